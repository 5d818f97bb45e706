//go:build integration

package deploy_test

// The checks that run promtool (built by `make tools-integration`): they run
// with `make test-integration` (go test -tags integration), which .ci/run
// runs after `make test`.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// promtool returns the promtool binary: $PROMTOOL, else ../bin/promtool.
// A missing binary fails the test: these checks are part of the suite.
func promtool(t *testing.T) string {
	t.Helper()
	p := os.Getenv("PROMTOOL")
	if p == "" {
		p = filepath.Join("..", "bin", "promtool")
	}
	abs, err := filepath.Abs(p)
	require.NoError(t, err)
	info, err := os.Stat(abs)
	require.NoError(t, err, "promtool not found at %s: run `make tools` to build it (or set PROMTOOL)", abs)
	require.False(t, info.IsDir(), "promtool at %s is a directory: run `make tools` (or set PROMTOOL)", abs)
	return abs
}

// runPromtool runs promtool with args and returns its output and error.
func runPromtool(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("promtool %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// checkRules runs `promtool check rules` on path.
func checkRules(bin, path string) error {
	_, err := runPromtool(bin, "check", "rules", path)
	return err
}

// testRules runs `promtool test rules` on path.
func testRules(bin, path string) error {
	_, err := runPromtool(bin, "test", "rules", path)
	return err
}

func TestAlertRulesCheck(t *testing.T) {
	require.NoError(t, checkRules(promtool(t), alertsPath))
}

func TestAlertRulesUnitTests(t *testing.T) {
	require.NoError(t, testRules(promtool(t), alertsTestPath))
}

// The two promtool checks fail on broken input: a rule that does not parse,
// and a unit test whose alert does not fire as it expects.
func TestPromtoolChecksCanFail(t *testing.T) {
	bin := promtool(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	good := write("good.yml", "groups:\n  - name: g\n    rules:\n      - alert: Up\n        expr: switchyard_breaker_state > 0\n        for: 1m\n")
	bad := write("bad.yml", "groups:\n  - name: g\n    rules:\n      - alert: Up\n        expr: switchyard_breaker_state >\n")
	require.NoError(t, checkRules(bin, good))
	require.Error(t, checkRules(bin, bad), "a rule that does not parse")

	for _, c := range []struct {
		name   string
		values string
		fires  bool
	}{{"fires", "1x5", true}, {"quiet", "0x5", false}} {
		exp := "exp_alerts: []"
		if c.fires {
			exp = "exp_alerts:\n          - exp_labels: {endpoint: e}"
		}
		write("unit.yml", "rule_files: [good.yml]\ntests:\n  - interval: 1m\n    input_series:\n      - series: 'switchyard_breaker_state{endpoint=\"e\"}'\n        values: '"+
			c.values+"'\n    alert_rule_test:\n      - eval_time: 3m\n        alertname: Up\n        "+exp+"\n")
		assert.NoError(t, testRules(bin, filepath.Join(dir, "unit.yml")), "%s: as expected", c.name)
		// The opposite expectation fails.
		exp = "exp_alerts:\n          - exp_labels: {endpoint: e}"
		if c.fires {
			exp = "exp_alerts: []"
		}
		write("unit.yml", "rule_files: [good.yml]\ntests:\n  - interval: 1m\n    input_series:\n      - series: 'switchyard_breaker_state{endpoint=\"e\"}'\n        values: '"+
			c.values+"'\n    alert_rule_test:\n      - eval_time: 3m\n        alertname: Up\n        "+exp+"\n")
		assert.Error(t, testRules(bin, filepath.Join(dir, "unit.yml")), "%s: opposite expectation", c.name)
	}
}

// checkExpressions reports whether every expression parses as PromQL, by
// running `promtool check rules` on a rules file with one recording rule
// per expression (promtool names the one that does not parse).
func checkExpressions(bin string, exprs []namedExpr) error {
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	var legend strings.Builder
	for i, e := range exprs {
		name := fmt.Sprintf("dashboard:expr_%d", i)
		rules = append(rules, rule{Record: name, Expr: expandGrafanaVars(e.expr)})
		fmt.Fprintf(&legend, "%s: %s\n", name, e.where)
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "switchyard-dashboard-rules")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "dashboard.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	if err := checkRules(bin, path); err != nil {
		return fmt.Errorf("%w\nrules:\n%s", err, legend.String())
	}
	return nil
}

func TestDashboardExpressionsParse(t *testing.T) {
	exprs := dashboardExprs(loadDashboard(t))
	require.NotEmpty(t, exprs)
	require.NoError(t, checkExpressions(promtool(t), exprs))
}

// checkExpressions fails on an expression that does not parse, and on a
// template variable used where PromQL needs something else.
func TestCheckExpressionsCanFail(t *testing.T) {
	bin := promtool(t)
	for _, c := range []struct {
		expr string
		ok   bool
	}{
		{`sum by (priority) (rate(switchyard_queue_admitted_total{provider=~"$provider"}[$__rate_interval]))`, true},
		{`histogram_quantile(0.99, sum(rate(gen_ai_client_operation_duration_seconds{provider=~"${provider:regex}"}[$__interval])))`, true},
		{`rate(switchyard_requests_total[5m]`, false},
		{`sum by (provider) (switchyard_queued) +`, false},
		{`rate(switchyard_requests_total[$provider])`, false},
		{`switchyard_requests_total{provider=$provider}`, false},
	} {
		err := checkExpressions(bin, []namedExpr{{"case", c.expr}})
		if c.ok {
			assert.NoError(t, err, "%s", c.expr)
		} else {
			assert.Error(t, err, "%s", c.expr)
		}
	}
}
