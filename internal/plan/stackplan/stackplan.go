// Package stackplan is the one way to load a stack file and record its
// plan: make plan, the policy checks and the rehearsal all go through it.
// It reads Pulumi.<stack>.yaml as the Pulumi CLI does (package stackfile),
// runs the program in-process under the recording engine (package
// recorder) in preview mode, and hands back the plan with the Config the
// program ran with (stacks.Recording): nothing decodes or resolves the
// configuration a second time.
package stackplan

import (
	"errors"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/internal/plan/recorder"
	"github.com/asyncjobs/asyncjobs/internal/plan/stackfile"
	"github.com/asyncjobs/asyncjobs/internal/program/strictconfig"
	"github.com/asyncjobs/asyncjobs/stacks"
)

// Record loads the stack file of stack in dir, checks it against the
// project's schema and records the program's preview. It returns the plan
// and the resolved Config the program ran with. A configuration the
// program refuses is one *stacks.ConfigError, holding the program's
// problems and what only the CLI's schema check says (a key the program
// reports itself is not repeated); nothing is recorded then.
func Record(dir, stack string) (*recorder.Plan, stacks.Config, error) {
	st, err := stackfile.Load(dir, stack)
	var schema *stackfile.ProjectError
	if err != nil && !errors.As(err, &schema) {
		return nil, stacks.Config{}, err
	}
	var ran stacks.Config
	plan, err := recorder.Run(stacks.Recording(&ran), recorder.Options{
		Project:    st.Project,
		Stack:      st.Name,
		Config:     st.Config,
		SecretKeys: st.SecretKeys,
		Preview:    true,
	})
	var cfgErr *stacks.ConfigError
	if schema != nil {
		var errs field.ErrorList
		if errors.As(err, &cfgErr) {
			errs = cfgErr.Errs
		} else if err != nil {
			return nil, stacks.Config{}, errors.Join(schema, err)
		}
		for _, e := range schema.Errs {
			if !reportedAt(errs, e.Field) {
				errs = append(errs, e)
			}
		}
		return nil, stacks.Config{}, &stacks.ConfigError{Errs: errs}
	}
	if errors.As(err, &cfgErr) {
		return nil, stacks.Config{}, cfgErr
	}
	if err != nil {
		return nil, stacks.Config{}, err
	}
	return plan, ran, nil
}

// reportedAt reports whether errs has an error at key or under it.
func reportedAt(errs field.ErrorList, key string) bool {
	for _, e := range errs {
		if strictconfig.Within(e.Field, key) {
			return true
		}
	}
	return false
}
