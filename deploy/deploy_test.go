// Package deploy_test checks the operator files in deploy/: the Prometheus
// alert rules pass `promtool check rules` and their unit tests
// (`promtool test rules`), every PromQL expression of the Grafana dashboard
// parses, and every metric name the dashboard and the rules use is one
// that (*switchyard.Switchyard).Collector() exports. The checks that run
// promtool are in promtool_test.go, built with the integration tag (`make
// test-integration`); promtool comes from $PROMTOOL or ../bin/promtool
// (`make tools-integration` builds it), and without it they fail.
package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

const (
	dashboardPath  = "grafana/switchyard-dashboard.json"
	alertsPath     = "prometheus/alerts.yml"
	alertsTestPath = "prometheus/alerts_test.yml"
)

// ---- the dashboard ----

// dashboard is the part of a Grafana dashboard model these tests read.
type dashboard struct {
	Title         string `json:"title"`
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
			Query      any    `json:"query"`
			Multi      bool   `json:"multi"`
			IncludeAll bool   `json:"includeAll"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Repeat     string                   `json:"repeat"`
	Datasource *dsRef                   `json:"datasource"`
	Targets    []target                 `json:"targets"`
	Panels     []panel                  `json:"panels"` // a collapsed row's
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
}

type target struct {
	Expr       string `json:"expr"`
	RefID      string `json:"refId"`
	Datasource *dsRef `json:"datasource"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// namedExpr is one PromQL expression and where it comes from.
type namedExpr struct {
	where, expr string
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(b, &d), "dashboard JSON")
	return d
}

// allPanels lists d's panels, those of collapsed rows included.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// labelValuesQuery matches a Grafana label_values(metric, label) query.
var labelValuesQuery = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

// dashboardExprs is every PromQL expression of d: panel targets, and the
// metric of each label_values variable.
func dashboardExprs(d dashboard) []namedExpr {
	var out []namedExpr
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			out = append(out, namedExpr{fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if m := labelValuesQuery.FindStringSubmatch(v.Definition); m != nil {
			out = append(out, namedExpr{"variable " + v.Name, m[1]})
		}
	}
	return out
}

// grafanaVar matches $name, ${name} and ${name:format}.
var grafanaVar = regexp.MustCompile(`\$(?:\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-zA-Z]+)?\}|([a-zA-Z_][a-zA-Z0-9_]*))`)

// grafanaDurations are the interval variables Grafana fills with a duration.
var grafanaDurations = map[string]string{"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}

// expandGrafanaVars replaces Grafana's variables as Grafana would before
// sending expr to Prometheus: interval variables by a duration, others
// (template variables, only valid inside label matcher strings) by "x".
func expandGrafanaVars(expr string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
		m := grafanaVar.FindStringSubmatch(v)
		name := m[1] + m[2]
		if d, ok := grafanaDurations[name]; ok {
			return d
		}
		return "x"
	})
}

func TestDashboardShape(t *testing.T) {
	d := loadDashboard(t)
	assert.GreaterOrEqual(t, d.SchemaVersion, 39, "schemaVersion")
	assert.NotEmpty(t, d.UID, "uid")

	var provider bool
	for _, v := range d.Templating.List {
		if v.Name == "provider" {
			provider = true
			assert.Equal(t, "query", v.Type, "provider variable type")
			m := labelValuesQuery.FindStringSubmatch(v.Definition)
			require.NotNil(t, m, "provider variable: %q is not label_values(metric, label)", v.Definition)
			assert.Equal(t, "provider", m[2], "provider variable label")
			assert.True(t, v.Multi && v.IncludeAll, "provider variable: multi and include all, for a row per provider")
		}
	}
	assert.True(t, provider, "no provider variable")

	ids := map[int]string{}
	var repeated bool
	uses := func(typ, metric string) bool {
		for _, p := range allPanels(d.Panels) {
			for _, tg := range p.Targets {
				if (typ == "" || p.Type == typ) && strings.Contains(tg.Expr, metric) {
					return true
				}
			}
		}
		return false
	}
	inRepeated := false // whether the row above repeats per provider
	for _, p := range allPanels(d.Panels) {
		if prev, dup := ids[p.ID]; dup {
			assert.Fail(t, "duplicate panel id", "%d: %q and %q", p.ID, prev, p.Title)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			inRepeated = p.Repeat == "provider"
			repeated = repeated || inRepeated
			continue
		}
		assert.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		assert.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, "panel %q is wider than the grid", p.Title)
		for _, tg := range append([]target{{Datasource: p.Datasource}}, p.Targets...) {
			require.NotNil(t, tg.Datasource, "panel %q: no datasource", p.Title)
			assert.Equal(t, "${datasource}", tg.Datasource.UID, "panel %q: datasource", p.Title)
		}
		for _, tg := range p.Targets {
			if inRepeated {
				assert.Contains(t, tg.Expr, `provider=~"$provider"`, "panel %q target %s: not filtered by provider", p.Title, tg.RefID)
			}
		}
	}
	assert.True(t, repeated, "no row repeated per provider")
	// What the issue asks each provider's row to show.
	for _, c := range []struct{ what, typ, metric string }{
		{"request rate", "timeseries", "gen_ai_client_operation_duration_seconds_count"},
		{"errors by class", "timeseries", "switchyard_failures_total"},
		{"p50/p99 latency", "timeseries", "histogram_quantile(0.99, sum by (le) (rate(gen_ai_client_operation_duration_seconds_bucket"},
		{"queue depth per level", "timeseries", "switchyard_queued"},
		{"breaker state timeline", "state-timeline", "switchyard_breaker_state"},
		{"key states", "state-timeline", "switchyard_key_state"},
		{"cooldowns", "timeseries", "switchyard_key_cooldown_seconds"},
		{"cache hit ratio", "timeseries", "switchyard_cache_lookups_total"},
		{"batch sizes", "timeseries", "switchyard_batch_requests_total"},
		{"tokens", "timeseries", "switchyard_tokens_total"},
	} {
		assert.True(t, uses(c.typ, c.metric), "%s: no %s panel using %s", c.what, c.typ, c.metric)
	}
}

// ---- metric names ----

var (
	// promString matches a PromQL string literal.
	promString = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	// promSelector matches a label matcher list (strings already blanked).
	promSelector = regexp.MustCompile(`\{[^{}]*\}`)
	// promGrouping matches the label list of by, without, on, ignoring,
	// group_left and group_right.
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	// ourMetric matches a name of ours.
	ourMetric = regexp.MustCompile(`(^|[^a-zA-Z0-9_:])((?:switchyard|gen_ai)_[a-zA-Z0-9_]*)`)
)

// metricNames are the switchyard_* and gen_ai_* metric names expr uses:
// identifiers outside strings, label matchers and grouping label lists
// (where gen_ai_* label names such as gen_ai_operation_name live).
func metricNames(expr string) []string {
	s := promString.ReplaceAllString(expr, `""`)
	s = promSelector.ReplaceAllString(s, "{}")
	s = promGrouping.ReplaceAllString(s, "$1()")
	var out []string
	for _, m := range ourMetric.FindAllStringSubmatch(s, -1) {
		if !slices.Contains(out, m[2]) {
			out = append(out, m[2])
		}
	}
	return out
}

// unknownMetrics returns the metric names of exprs that are not exported
// families: a histogram's _bucket, _sum and _count series, and a summary's
// _sum and _count, count as their family.
func unknownMetrics(exprs []namedExpr, families map[string]dto.MetricType) []string {
	var out []string
	for _, e := range exprs {
		for _, name := range metricNames(e.expr) {
			if _, ok := families[name]; ok {
				continue
			}
			known := false
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				base, cut := strings.CutSuffix(name, suffix)
				typ, ok := families[base]
				known = known || (cut && ok && (typ == dto.MetricType_HISTOGRAM || (typ == dto.MetricType_SUMMARY && suffix != "_bucket")))
			}
			if !known {
				out = append(out, fmt.Sprintf("%s (%s)", name, e.where))
			}
		}
	}
	return out
}

// ruleFile is the part of a Prometheus rules file these tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string `yaml:"alert"`
			Record string `yaml:"record"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// alertExprs is every expression of the alert rules, and the metric of
// every input series of their unit tests (which must be real too, or the
// tests prove nothing about the real metrics).
func alertExprs(t *testing.T) []namedExpr {
	t.Helper()
	var rf ruleFile
	b, err := os.ReadFile(alertsPath)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &rf))
	var out []namedExpr
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			out = append(out, namedExpr{"rule " + r.Alert + r.Record, r.Expr})
		}
	}
	var tf struct {
		Tests []struct {
			InputSeries []struct {
				Series string `yaml:"series"`
			} `yaml:"input_series"`
		} `yaml:"tests"`
	}
	b, err = os.ReadFile(alertsTestPath)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &tf))
	for i, ts := range tf.Tests {
		for _, s := range ts.InputSeries {
			out = append(out, namedExpr{fmt.Sprintf("alert test %d input series", i), s.Series})
		}
	}
	return out
}

func TestMetricNamesAndUnknownMetrics(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`sum by (gen_ai_operation_name) (rate(gen_ai_client_operation_duration_seconds_count{provider=~"$provider"}[5m]))`,
			[]string{"gen_ai_client_operation_duration_seconds_count"}},
		{`histogram_quantile(0.5, sum by (le, gen_ai_token_type) (rate(gen_ai_client_token_usage_bucket{gen_ai_request_model="switchyard_x"}[5m])))`,
			[]string{"gen_ai_client_token_usage_bucket"}},
		{`switchyard_queue_depth / on (priority) group_left (gen_ai_x) switchyard_queue_capacity > 0.9`,
			[]string{"switchyard_queue_depth", "switchyard_queue_capacity"}},
		{`switchyard_breaker_state == 1 and switchyard_breaker_state != 2`, []string{"switchyard_breaker_state"}},
		{`up{job="switchyard_metrics"} + my_switchyard_total`, nil},
	} {
		assert.Equal(t, c.want, metricNames(c.expr), "%s", c.expr)
	}

	fams := map[string]dto.MetricType{
		"switchyard_requests_total":  dto.MetricType_COUNTER,
		"gen_ai_client_token_usage":  dto.MetricType_HISTOGRAM,
		"switchyard_latency_seconds": dto.MetricType_GAUGE,
	}
	for _, c := range []struct {
		expr    string
		unknown int
	}{
		{`rate(switchyard_requests_total[5m])`, 0},
		{`rate(gen_ai_client_token_usage_bucket[5m]) / rate(gen_ai_client_token_usage_count[5m])`, 0},
		{`rate(switchyard_no_such_total[5m])`, 1},
		{`switchyard_requests_total_bucket`, 1},         // not a histogram
		{`switchyard_latency_seconds_count`, 1},         // a gauge
		{`gen_ai_client_operation_duration_seconds`, 1}, // not exported here
	} {
		got := unknownMetrics([]namedExpr{{"case", c.expr}}, fams)
		assert.Len(t, got, c.unknown, "%s: %v", c.expr, got)
	}
}

// The dashboard, the alert rules and their tests use only metric names a
// real instance exports once it has served some traffic.
func TestDeployFilesUseExportedMetrics(t *testing.T) {
	families := exportedFamilies(t)
	exprs := append(dashboardExprs(loadDashboard(t)), alertExprs(t)...)
	var used int
	for _, e := range exprs {
		used += len(metricNames(e.expr))
	}
	require.NotZero(t, used, "no metric names found")
	assert.Empty(t, unknownMetrics(exprs, families), "metrics the collector does not export")
}

// exportedFamilies starts an instance against the OpenAI simulator, with
// the cache and batching on, sends it traffic that makes every metric
// family appear (successes, a failure, a batched embedding, a cache hit),
// and returns the families its collector exports, by name.
func exportedFamilies(t *testing.T) map[string]dto.MetricType {
	t.Helper()
	const secret = "sk-deploy-test-0123456789abcdef"
	srv := sim.Start(sim.OpenAI(), sim.WithKeys(secret))
	t.Cleanup(srv.Close)
	sy, err := switchyard.New(switchyard.Config{
		Providers: []switchyard.ProviderConfig{{Name: "oa", Kind: "openai", Endpoints: []switchyard.EndpointConfig{{
			Name: "primary", BaseURL: srv.URL + "/v1", Keys: []switchyard.KeyConfig{{Label: "k1", Secret: secret}}}}}},
		Retry: switchyard.RetryConfig{MaxAttempts: 1},
		Cache: switchyard.CacheConfig{Enabled: true},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, sy.Close(ctx))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	chat := func(text string) error {
		_, err := sy.Chat(ctx, &messages.ChatRequest{Call: messages.Call{Provider: "oa"}, Model: "gpt-test",
			Messages: []messages.Message{{Role: messages.RoleUser, Content: text}}})
		return err
	}
	require.NoError(t, chat("first"))
	require.NoError(t, chat("second"))
	srv.Inject(sim.Fault{Status: 500})
	require.ErrorIs(t, chat("third"), switchyard.ErrUpstream)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := sy.Embed(ctx, &messages.EmbedRequest{Call: messages.Call{Provider: "oa"}, Model: "text-embedding-test", Inputs: []string{"same"}})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(sy.Collector()))
	fams, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]dto.MetricType{}
	for _, f := range fams {
		out[f.GetName()] = f.GetType()
	}
	return out
}
