package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/web"
)

// daemonFlags are the flags of every verb that talks to a running daemon.
type daemonFlags struct {
	port int
	host string
}

// register adds the flags to cmd, whose one argument (NAME) completes to
// the running devloop's resource names.
func (f *daemonFlags) register(cmd *cobra.Command) {
	cmd.Flags().IntVar(&f.port, "port", 0, "port of the running devloop up (default: $DEVLOOP_PORT, else the one devloop up running, else 10350)")
	cmd.Flags().StringVar(&f.host, "host", "", "address of the running devloop up (default: $DEVLOOP_HOST, else where it listens)")
	cmd.ValidArgsFunction = f.completeNames
}

// completionTimeout bounds asking the daemon for names while the user
// waits at a shell prompt.
const completionTimeout = 2 * time.Second

func (f *daemonFlags) completeNames(cmd *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := f.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
	defer cancel()
	v, err := c.View(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []cobra.Completion
	for _, r := range v.Resources {
		if strings.HasPrefix(r.Name, prefix) {
			names = append(names, cobra.CompletionWithDesc(r.Name, string(r.Phase)))
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

func (f *daemonFlags) client() (*web.Client, error) {
	port, err := envPort(f.port)
	if err != nil {
		return nil, err
	}
	host := f.host
	if host == "" {
		host = os.Getenv("DEVLOOP_HOST")
	}
	return web.NewClient(web.ClientConfig{Host: host, Port: port})
}

// envPort is port, or $DEVLOOP_PORT when port is 0 (as TILT_PORT for
// tilt), or 0 when neither is set.
func envPort(port int) (int, error) {
	if port != 0 {
		return port, nil
	}
	v := os.Getenv("DEVLOOP_PORT")
	if v == "" {
		return 0, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p <= 0 || p > 65535 {
		return 0, fmt.Errorf("DEVLOOP_PORT=%q is not a port number: set it to one (10350) or unset it", v)
	}
	return p, nil
}

// getConfig is what `devloop get` was asked for.
type getConfig struct {
	name   string
	output string // "" (table), "wide", "json" or "yaml"
	now    func() time.Time
}

// getOutputs are the -o values of `devloop get`, as kubectl's and tilt get's.
var getOutputs = []string{"json", "yaml", "wide"}

func newGetCmd(s Streams) *cobra.Command {
	var df daemonFlags
	cfg := getConfig{now: time.Now}
	cmd := &cobra.Command{
		Use:   "get [NAME]",
		Short: "List the resources of the running devloop with their phase, last update and error",
		Long: "List the resources of the running `devloop up` with their phase, last update and error.\n" +
			"-o wide adds the kind, trigger mode and endpoints; -o json prints the view as JSON:\n" +
			"{\"resources\": [{\"name\", \"phase\", ...}], ...} (docs/api.md); -o yaml the same as YAML.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				cfg.name = args[0]
			}
			if cfg.output != "" && !slices.Contains(getOutputs, cfg.output) {
				return fmt.Errorf("unknown output format %q: use -o %s, or no -o for a table", cfg.output, strings.Join(getOutputs, ", -o "))
			}
			c, err := df.client()
			if err != nil {
				return err
			}
			return runGet(cmd.Context(), cfg, c, s)
		},
	}
	df.register(cmd)
	cmd.Flags().StringVarP(&cfg.output, "output", "o", "", "output format: "+strings.Join(getOutputs, ", "))
	cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(getOutputs, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runGet(ctx context.Context, cfg getConfig, c *web.Client, s Streams) error {
	v, err := c.View(ctx)
	if err != nil {
		return err
	}
	if cfg.name != "" {
		var found []engine.ResourceView
		for _, r := range v.Resources {
			if r.Name == cfg.name {
				found = append(found, r)
			}
		}
		if found == nil {
			return fmt.Errorf("resource %q not found: `devloop get` lists the resources", cfg.name)
		}
		v.Resources = found
	}
	switch cfg.output {
	case "json":
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v) // through JSON: the same field names as -o json
		if err != nil {
			return err
		}
		_, err = s.Out.Write(b)
		return err
	}
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
	wide := cfg.output == "wide"
	if wide {
		fmt.Fprintln(tw, "NAME\tKIND\tPHASE\tTRIGGER\tLAST UPDATE\tENDPOINTS\tERROR")
	} else {
		fmt.Fprintln(tw, "NAME\tPHASE\tLAST UPDATE\tERROR")
	}
	now := cfg.now()
	for _, r := range v.Resources {
		if wide {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Kind, phaseText(r), r.TriggerMode, lastUpdateText(r, now), endpoints(r), firstLine(r.Error))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, phaseText(r), lastUpdateText(r, now), firstLine(r.Error))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(table.String()) {
		if _, err := io.WriteString(s.Out, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	if v.Devfile.Error != "" {
		fmt.Fprintf(s.Out, "\nDevfile error (the last good Devfile keeps running): %s\n", v.Devfile.Error)
	}
	if v.Cluster != nil {
		fmt.Fprintf(s.Out, "\nThe cluster does not answer (since %s): %s\n", v.Cluster.Since.Format(time.TimeOnly), v.Cluster.Error)
	}
	return nil
}

// endpoints are a resource's link URLs, comma-separated, or "-".
func endpoints(r engine.ResourceView) string {
	if len(r.Links) == 0 {
		return "-"
	}
	urls := make([]string, len(r.Links))
	for i, l := range r.Links {
		urls[i] = l.URL
	}
	return strings.Join(urls, ",")
}

func phaseText(r engine.ResourceView) string {
	p := string(r.Phase)
	if r.Phase == engine.PhasePending && r.Waiting != "" {
		p += " (" + r.Waiting + ")"
	}
	if n := len(r.Queued); n > 0 {
		p += fmt.Sprintf(" [%d queued]", n)
	}
	return p
}

// lastUpdateText reads "2m ago, 1.4s, ok" ("2s ago, live 65ms, ok" for a
// live update).
func lastUpdateText(r engine.ResourceView, now time.Time) string {
	u := r.LastUpdate
	if u == nil {
		return "-"
	}
	ago := now.Sub(u.End)
	if u.End.IsZero() {
		ago = now.Sub(u.Start)
	}
	text := shortDuration(ago) + " ago"
	if !u.End.IsZero() {
		text += ", "
		if u.LiveUpdate {
			text += "live "
		}
		text += u.End.Sub(u.Start).Round(time.Millisecond).String()
	}
	return text + ", " + u.Result
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
