package main

import (
	"context"
	"errors"
	"fmt"
)

// inspect shows up to --max dead letters and acknowledges none of them.
func (a *app) inspect(ctx context.Context, cfg *config, s *session) (err error) {
	defer func() {
		if rerr := s.release(ctx); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	out := newViewWriter(a.stdout, cfg.json, colID, colPublish, colAttempt, colSize, colKey, colAttrs, colData)
	prog := newProgress(a.stderr, cfg.progressEvery)
	shown := 0
	for {
		msgs, err := s.next(ctx)
		if err != nil {
			_ = out.flush()
			return err
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			v := viewOf(m, cfg.excerpt)
			if cfg.json {
				v.Data = m.GetMessage().GetData()
			}
			if err := out.write(v); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			shown++
		}
		if err := out.flush(); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		prog.update(shown, "shown")
	}
	if shown == 0 {
		fmt.Fprintf(a.stderr, "deadletters: no messages on %s\n", s.src.Name())
		return nil
	}
	fmt.Fprintf(a.stderr, "deadletters: %d messages shown; none acknowledged, all handed back to %s\n", shown, s.src.Name())
	return nil
}
