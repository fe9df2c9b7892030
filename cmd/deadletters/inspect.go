package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/asyncjobs/asyncjobs/internal/command/cli"
	"github.com/asyncjobs/asyncjobs/internal/command/opstool"
)

// maxCount bounds how many messages past --max inspect counts (without
// showing them) to say how many remain.
const maxCount = 10000

// inspect shows up to --max dead letters and acknowledges none of them.
// When it stops at --max it goes on pulling, without showing, to count the
// messages still waiting (up to maxCount), then hands every one back.
func (a *app) inspect(ctx context.Context, cfg *config, s *session, prog *progress) (err error) {
	defer func() {
		prog.close()
		if rerr := s.release(ctx); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	out := newViewWriter(a.stdout, cfg.json, a.width, colID, colPublish, colAttempt, colSize, colKey, colAttrs, colData)
	out.before = prog.clear
	shown, more := 0, 0
	exhausted := false
	for {
		msgs, done, err := s.next(ctx, cfg.batch)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return cli.WithExit(opstool.ExitInterrupted, fmt.Errorf("interrupted after showing %d messages; all handed back to %s", shown, s.src.Name()))
			case errors.Is(err, errStale):
				return cli.WithExit(opstool.ExitIncomplete, fmt.Errorf("stopped after showing %d messages, with more possibly waiting on %s: %w", shown, s.src.Name(), err))
			}
			return err
		}
		if done {
			exhausted = true
			break
		}
		for _, m := range msgs {
			if cfg.max > 0 && shown >= cfg.max {
				more++
				continue
			}
			v := a.viewOf(m, cfg)
			if err := out.write(v); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			shown++
		}
		prog.set(shown+more, fmt.Sprintf("%d shown, %d more counted", shown, more))
		if more >= maxCount {
			break
		}
	}
	prog.clear()
	name := s.src.Name()
	switch {
	case shown == 0:
		fmt.Fprintf(a.stderr, "deadletters: no messages on %s\n", name)
	case more == 0:
		fmt.Fprintf(a.stderr, "deadletters: %d messages shown; none acknowledged, all handed back to %s\n", shown, name)
	case exhausted:
		fmt.Fprintf(a.stderr, "deadletters: %d messages shown (--max %d); %d more are waiting, not shown (--max 0 shows all); "+
			"none acknowledged, all handed back to %s\n", shown, cfg.max, more, name)
	default:
		fmt.Fprintf(a.stderr, "deadletters: %d messages shown (--max %d); at least %d more are waiting, not shown; "+
			"none acknowledged, all handed back to %s\n", shown, cfg.max, more, name)
	}
	return nil
}
