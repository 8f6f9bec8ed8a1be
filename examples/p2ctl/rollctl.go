package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/p2kit/p2kit/keyspace"
	"github.com/p2kit/p2kit/kv"
	"github.com/p2kit/p2kit/rc"
	"github.com/p2kit/p2kit/roll"
	"github.com/p2kit/p2kit/status"
	"github.com/spf13/cobra"
)

// rollPauseCommand is "roll pause <id>" (pause true) or "roll resume <id>":
// it sets or clears the roll's paused field; the farm takes no step while
// it is set.
func (a *app) rollPauseCommand(pause bool) *cobra.Command {
	verb, done, short := "resume", "resumed", "Let a paused roll step again"
	if pause {
		verb, done, short = "pause", "paused", "Stop a roll where it is until it is resumed (its deadline still counts)"
	}
	return &cobra.Command{
		Use:   verb + " <id>",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			cli, err := a.client(ctx)
			if err != nil {
				return err
			}
			obj, err := roll.NewStore(cli, keyspace.WithPrefix(a.prefix)).SetPaused(ctx, a.actor, id, pause)
			if err != nil {
				return fmt.Errorf("roll %s %s: %w", verb, id, err)
			}
			if a.structured() {
				return a.printValue(envelopeOf(obj))
			}
			_, err = fmt.Fprintf(a.stdout, "roll/%s %s (revision %d)\n", id, done, obj.ModRevision)
			return err
		},
	}
}

// rollAbortCommand is "roll abort <id>": the roll is deleted and its status
// record says halted, in one transaction; both RCs stay as they are.
func (a *app) rollAbortCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "abort <id>",
		Short: "Halt a roll: delete it and record it halted; both RCs stay as they are",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			cli, err := a.client(ctx)
			if err != nil {
				return err
			}
			st, err := roll.NewStore(cli, keyspace.WithPrefix(a.prefix)).Abort(ctx, a.actor, id)
			if err != nil {
				return fmt.Errorf("roll abort %s: %w", id, err)
			}
			if a.structured() {
				return a.printValue(st)
			}
			_, err = fmt.Fprintf(a.stdout, "roll/%s aborted: halted with old rc %s at %d replicas and new rc %s at %d; both stay as they are\n",
				id, st.OldRC, st.OldReplicas, st.NewRC, st.NewReplicas)
			return err
		},
	}
}

// rollUndoCommand is "roll undo <id>": a new roll from the roll's new RC
// back to its old RC, which must still exist (a roll with --leave-old, or
// one that failed or was aborted). A roll still under way is aborted
// first.
func (a *app) rollUndoCommand() *cobra.Command {
	var desired, minimum int
	var delay, deadline time.Duration
	var leaveOld, force bool
	cmd := &cobra.Command{
		Use:   "undo <id>",
		Short: "Roll back: start a roll from the roll's new RC to its old RC, when the old RC was kept",
		Long: "Roll back: start a roll from the roll's new RC to its old RC, with the same desired and minimum " +
			"replicas unless given. The old RC must still exist (the roll used --leave-old, failed or was " +
			"aborted). A roll still under way is aborted first. The new roll's id is the old RC's.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			what := "roll undo " + id
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			cli, err := a.client(ctx)
			if err != nil {
				return err
			}
			rolls := roll.NewStore(cli, keyspace.WithPrefix(a.prefix))
			var from roll.Roll
			live, err := rolls.Get(ctx, id)
			switch {
			case err == nil:
				from = live.Value
			case errors.Is(err, kv.ErrNotFound):
				rec, err := roll.NewStatusStore(cli, keyspace.WithPrefix(a.prefix)).Get(ctx, status.Rolls, id)
				if err != nil {
					return fmt.Errorf("%s: no roll and no roll farm status: %w", what, err)
				}
				st := rec.Value
				from = roll.Roll{ID: id, OldRC: st.OldRC, NewRC: st.NewRC, DesiredReplicas: st.DesiredReplicas,
					MinimumReplicas: st.MinimumReplicas}
			default:
				return fmt.Errorf("%s: %w", what, err)
			}
			if _, err := rc.NewStore(cli, keyspace.WithPrefix(a.prefix)).Get(ctx, from.OldRC); errors.Is(err, kv.ErrNotFound) {
				return fmt.Errorf("%s: old rc %s no longer exists (a roll that finishes deletes it unless started with --leave-old): %w",
					what, from.OldRC, err)
			} else if err != nil {
				return fmt.Errorf("%s: old rc: %w", what, err)
			}
			back := roll.Roll{ID: from.OldRC, OldRC: from.NewRC, NewRC: from.OldRC, DesiredReplicas: from.DesiredReplicas,
				MinimumReplicas: from.MinimumReplicas, LeaveOld: leaveOld, RollDelay: roll.Duration(delay), Deadline: roll.Duration(deadline)}
			if cmd.Flags().Changed("desired") {
				back.DesiredReplicas = desired
			}
			if cmd.Flags().Changed("minimum") {
				back.MinimumReplicas = minimum
			}
			if err := back.Validate(); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if !force {
				if err := rolls.Check(ctx, &back); errors.Is(err, roll.ErrCannotProgress) {
					return fmt.Errorf("%s: %w (--force starts it anyway)", what, err)
				} else if err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
			}
			if live != nil {
				if _, err := rolls.Abort(ctx, a.actor, id); err != nil && !errors.Is(err, roll.ErrFinished) {
					return fmt.Errorf("%s: abort the roll under way: %w", what, err)
				}
				if !a.structured() {
					fmt.Fprintf(a.stdout, "roll/%s aborted\n", id)
				}
			}
			obj, err := rolls.Create(ctx, a.actor, &back)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return a.printStarted(obj)
		},
	}
	f := cmd.Flags()
	f.IntVar(&desired, "desired", 0, "replicas the old RC ends with (default: the roll's desired replicas)")
	f.IntVar(&minimum, "minimum", 0, "replicas that must stay healthy (default: the roll's minimum)")
	f.BoolVar(&leaveOld, "leave-old", false, "keep the rolled-back RC, scaled to 0, when the undo completes")
	f.DurationVar(&delay, "roll-delay", 0, "pause between steps")
	f.DurationVar(&deadline, "deadline", 0, "how long the undo may take from now (0: no deadline)")
	f.BoolVar(&force, "force", false, "start the undo even when it cannot make progress as the fleet stands")
	return cmd
}
