package redact

import (
	"context"
	"fmt"
	"log/slog"
)

// Logger returns a logger that writes through log's handler with every
// secret of r removed (see NewHandler); log itself when r redacts nothing,
// nil when log is nil.
func Logger(log *slog.Logger, r *Redactor) *slog.Logger {
	if log == nil || r.empty() {
		return log
	}
	return slog.New(NewHandler(log.Handler(), r))
}

// NewHandler returns a slog.Handler that removes r's secrets from every
// record before h sees it: the message, attribute keys and values (strings,
// errors through Redactor.Error, LogValuers after resolution, groups, and
// any other value whose %+v formatting holds a secret, which is then logged
// as its scrubbed text), attributes added by WithAttrs and group names. A
// record that holds no secret is passed on as it is. It is safe for
// concurrent use when h is.
func NewHandler(h slog.Handler, r *Redactor) slog.Handler {
	return &handler{inner: h, r: r}
}

type handler struct {
	inner slog.Handler
	r     *Redactor
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	dirty := h.r.Contains(rec.Message)
	if !dirty {
		rec.Attrs(func(a slog.Attr) bool {
			_, dirty = h.attr(a)
			return !dirty
		})
	}
	if !dirty {
		return h.inner.Handle(ctx, rec)
	}
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		a, _ = h.attr(a)
		out.AddAttrs(a)
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i], _ = h.attr(a)
	}
	return &handler{inner: h.inner.WithAttrs(clean), r: h.r}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{inner: h.inner.WithGroup(h.r.String(name)), r: h.r}
}

// attr returns a scrubbed and whether anything changed.
func (h *handler) attr(a slog.Attr) (slog.Attr, bool) {
	r := h.r
	key := r.String(a.Key)
	changed := key != a.Key
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); r.Contains(s) {
			v, changed = slog.StringValue(r.String(s)), true
		}
	case slog.KindGroup:
		group := v.Group()
		var clean []slog.Attr
		for i, g := range group {
			c, ch := h.attr(g)
			if ch && clean == nil {
				clean = append([]slog.Attr(nil), group...)
			}
			if clean != nil {
				clean[i] = c
			}
		}
		if clean != nil {
			v, changed = slog.GroupValue(clean...), true
		}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			if out, ch := r.scrubError(x); ch {
				v, changed = slog.AnyValue(out), true
			}
		default:
			if s := fmt.Sprintf("%+v", x); r.Contains(s) {
				v, changed = slog.StringValue(r.String(s)), true
			}
		}
	}
	if !changed {
		return a, false
	}
	return slog.Attr{Key: key, Value: v}, true
}
