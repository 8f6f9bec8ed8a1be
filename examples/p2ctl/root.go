package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/p2kit/p2kit/component"
	"github.com/p2kit/p2kit/kv"
	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// app is one invocation of p2ctl: its global flags, its output streams and
// the etcd client, dialled on first use so that commands which fail on
// their arguments never touch the network.
type app struct {
	etcd           component.Etcd
	prefix         string
	logLevel       string
	output         string
	actor          string
	commandTimeout time.Duration

	stdin          io.Reader
	stdout, stderr io.Writer

	log *zap.Logger
	cli *clientv3.Client
}

// run executes p2ctl with args and returns the process exit code: 0 on
// success, 1 on any failure, which is reported as one line on stderr.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdin: os.Stdin, stdout: stdout, stderr: stderr}
	defer a.close()
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.InitDefaultCompletionCmd() // after SetOut: it keeps the writer it finds
	strictGroups(root)
	if cmd, err := root.ExecuteContextC(ctx); err != nil {
		fmt.Fprintf(stderr, "p2ctl: %s\n", oneLine(nameCommand(cmd, kv.EtcdError(err))))
		return 1
	}
	return 0
}

// rootCommand builds the command tree.
func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "p2ctl",
		Short: "Operate a p2kit fleet: entities, labels, rolls, failsafe holds, status and audit",
		Long: "p2ctl reads and changes the desired state of a p2kit fleet in etcd.\n\n" +
			"Entities: " + kindList() + ".",
		SilenceErrors:     true,
		SilenceUsage:      true,
		PersistentPreRunE: func(*cobra.Command, []string) error { return a.setup() },
	}
	a.globalFlags(root)
	root.AddCommand(
		a.applyCommand(),
		a.getCommand(),
		a.describeCommand(),
		a.diffCommand(),
		a.editCommand(),
		a.listCommand(),
		a.deleteCommand(),
		a.watchCommand(),
		a.labelsCommand(),
		a.rcCommand(),
		a.rollCommand(),
		a.failsafeCommand(),
		a.statusCommand(),
		a.auditCommand(),
		a.importCommand(),
		a.authCommand(), a.keygenCommand(), a.signCommand(),
	)
	return root
}

// globalFlags declares the flags every command takes.
func (a *app) globalFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	a.etcd.Register(f)
	f.StringVar(&a.prefix, "prefix", "/p2", "root prefix of every p2kit key")
	f.StringVar(&a.logLevel, "log-level", "error", "log level of the etcd client: debug, info, warn, error")
	f.StringVarP(&a.output, "output", "o", "table", "output format: table, json or yaml")
	f.StringVar(&a.actor, "actor", defaultActor(), "who makes the change, as written into audit records")
	f.DurationVar(&a.commandTimeout, "command-timeout", 30*time.Second, "time limit of one command (not of watch or --follow)")
}

// setup checks the global flags before any command runs.
func (a *app) setup() error {
	switch a.output {
	case formatTable, formatJSON, formatYAML:
	default:
		return fmt.Errorf("--output %q: want table, json or yaml", a.output)
	}
	if a.actor == "" {
		return fmt.Errorf("--actor: required")
	}
	if a.prefix == "" || !strings.HasPrefix(a.prefix, "/") {
		return fmt.Errorf("--prefix %q: want an absolute key prefix such as /p2", a.prefix)
	}
	a.prefix = strings.TrimRight(a.prefix, "/")
	if a.prefix == "" {
		return fmt.Errorf("--prefix: the root / is not a prefix; use one such as /p2")
	}
	log, err := component.NewLogger(a.logLevel, a.stderr)
	if err != nil {
		return err
	}
	a.log = log
	return nil
}

// client returns the etcd client, dialling it on first use.
func (a *app) client(ctx context.Context) (*clientv3.Client, error) {
	if a.cli != nil {
		return a.cli, nil
	}
	c, err := a.etcd.Dial(ctx, a.log)
	if err != nil {
		return nil, err
	}
	a.cli = c
	return c, nil
}

// close releases the etcd client.
func (a *app) close() {
	if a.cli != nil {
		_ = a.cli.Close()
	}
	if a.log != nil {
		_ = a.log.Sync()
	}
}

// oneShot returns the context of a command that ends by itself: limited by
// --command-timeout.
func (a *app) oneShot(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	if a.commandTimeout <= 0 {
		return context.WithCancel(cmd.Context())
	}
	return context.WithTimeout(cmd.Context(), a.commandTimeout)
}

// defaultActor is $USER, or "p2ctl" when it is unset.
func defaultActor() string { return component.EnvOr("USER", "p2ctl") }

// oneLine flattens an error (errors.Join separates with newlines) into the
// one line p2ctl prints.
func oneLine(err error) string {
	lines := strings.FieldsFunc(err.Error(), func(r rune) bool { return r == '\n' || r == '\r' })
	return strings.Join(lines, "; ")
}
