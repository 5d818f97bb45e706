package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/switchyard-ai/switchyard/messages"
)

// tuiRefresh is how often the live view redraws (at most --interval).
const tuiRefresh = 500 * time.Millisecond

// tuiPalette colours breaker and key states and event kinds.
func tuiPalette(r *lipgloss.Renderer) palette {
	st := func(c string) lipgloss.Style { return r.NewStyle().Foreground(lipgloss.Color(c)) }
	green, yellow, red, cyan, magenta, grey := st("10"), st("11"), st("9"), st("14"), st("13"), st("245")
	return palette{
		breaker: func(s messages.BreakerState, text string) string {
			switch s {
			case messages.Open:
				return red.Bold(true).Render(text)
			case messages.HalfOpen:
				return yellow.Bold(true).Render(text)
			}
			return green.Render(text)
		},
		key: func(s messages.KeyState, text string) string {
			switch s {
			case messages.KeyStateCooling:
				return yellow.Render(text)
			case messages.KeyStateDisabled:
				return red.Render(text)
			}
			return green.Render(text)
		},
		event: func(k eventKind, text string) string {
			switch k {
			case evFault:
				return magenta.Render(text)
			case evOpen, evDisabled:
				return red.Render(text)
			case evHalfOpen, evCooldown:
				return yellow.Render(text)
			case evClosed:
				return green.Render(text)
			case evRestart:
				return cyan.Render(text)
			}
			return text
		},
		title: func(s string) string { return r.NewStyle().Bold(true).Render(s) },
		dim:   func(s string) string { return grey.Render(s) },
		bad:   func(s string) string { return red.Render(s) },
	}
}

type frameMsg frame
type tickMsg struct{}

// tuiModel is the live view: it asks the source for a frame, shows it, and
// asks again after the refresh interval.
type tuiModel struct {
	ctx           context.Context
	src           *source
	pal           palette
	every         time.Duration
	f             frame
	ready         bool
	width, height int
}

func (m tuiModel) fetch() tea.Cmd {
	return func() tea.Msg { return frameMsg(m.src.frame(m.ctx)) }
}

func (m tuiModel) Init() tea.Cmd { return m.fetch() }

func (m tuiModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch v := msg.(type) {
	case tea.KeyMsg:
		switch v.String() {
		case "q", "Q", "ctrl+c", "esc":
			return m, tea.Quit
		}
	case tea.WindowSizeMsg:
		m.width, m.height = v.Width, v.Height
	case frameMsg:
		m.f, m.ready = frame(v), true
		return m, tea.Tick(m.every, func(time.Time) tea.Msg { return tickMsg{} })
	case tickMsg:
		return m, m.fetch()
	}
	return m, nil
}

func (m tuiModel) View() string {
	if !m.ready {
		return "starting Switchyard…\n"
	}
	body := renderMain(m.f, m.pal)
	if m.height > 0 && strings.Count(body, "\n")+3 > m.height {
		// Too tall for the terminal: one line per endpoint's keys, and
		// the head of the tree if even that does not fit (--plain shows
		// everything).
		f := m.f
		f.Compact = true
		body = renderMain(f, m.pal)
		if lines := strings.SplitAfter(body, "\n"); len(lines) > m.height-4 {
			body = strings.Join(lines[:max(1, m.height-5)], "") + m.pal.dim("… (taller than the terminal: enlarge it, or use --plain)") + "\n"
		}
	}
	// Give the events what is left of the screen, up to 10 lines.
	n := 10
	if m.height > 0 {
		n = min(10, max(0, m.height-strings.Count(body, "\n")-3))
	}
	out := body + "\n" + renderEvents(m.f, m.pal, n)
	if m.width > 0 {
		out = lipgloss.NewStyle().MaxWidth(m.width).Render(out)
	}
	return out
}

// runTUI shows the live tree until ctx ends or the user quits (q, Esc,
// Ctrl-C); quit is called in the latter case. A nil in reads no keys.
func runTUI(ctx context.Context, in io.Reader, out io.Writer, src *source, interval time.Duration, quit func()) error {
	r := lipgloss.NewRenderer(out)
	m := tuiModel{ctx: ctx, src: src, pal: tuiPalette(r), every: min(interval, tuiRefresh)}
	p := tea.NewProgram(m, tea.WithInput(in), tea.WithOutput(out), tea.WithAltScreen(), tea.WithoutSignalHandler())
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			p.Quit()
		case <-stop:
		}
	}()
	_, err := p.Run()
	quit()
	if errors.Is(err, tea.ErrProgramKilled) || errors.Is(err, tea.ErrInterrupted) {
		return nil
	}
	return err
}
