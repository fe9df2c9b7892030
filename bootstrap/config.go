package main

import (
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/asyncjobs/asyncjobs/internal/program/strictconfig"
)

// Namespace is the bootstrap project's configuration namespace (its name),
// so `pulumi config set repository my-org/asyncjobs` needs no prefix.
const Namespace = "asyncjobs-bootstrap"

// ProjectKey names the host project that holds the identity pools, the
// deploying service accounts, the state buckets and the KMS keys. No
// environment deploys to it (Validate refuses one that does): a deployer's
// roles on its environment's project then never reach another
// environment's deployer.
const ProjectKey = "gcp:project"

// Config is the bootstrap stack's configuration, defaults applied.
type Config struct {
	Project      string                 `json:"-"`
	Repository   string                 `json:"repository" doc:"GitHub repository (owner/name) whose workflows may deploy (names the accounts and pools; required)"`                                                           //nolint:lll // a struct tag cannot be wrapped
	RepositoryID string                 `json:"repositoryId" doc:"numeric id of the repository (GitHub API: .id); the pools admit only tokens whose repository_id claim is this, since names can be re-registered (required)"` //nolint:lll // a struct tag cannot be wrapped
	OwnerID      string                 `json:"repositoryOwnerId" doc:"numeric id of the repository's owner (GitHub API: .owner.id); the pools also require the repository_owner_id claim (required)"`                         //nolint:lll // a struct tag cannot be wrapped
	StateBucket  string                 `json:"stateBucket" doc:"name prefix of the Cloud Storage buckets created for Pulumi state, one per environment: <stateBucket>-<environment> (globally unique; required)"`             //nolint:lll // a struct tag cannot be wrapped
	Location     string                 `json:"location" doc:"location of the state bucket and the KMS key ring, e.g. asia-northeast1 (required)"`
	PoolID       string                 `json:"poolId" doc:"workload identity pool id; protected environments get <poolId>-<environment>"`
	Environments map[string]Environment `json:"environments" doc:"deployment environments by stack name, e.g. dev and prod (at least one)"`
	Protect      bool                   `json:"protect" doc:"protect every resource (state buckets, keys, deployer accounts and their grants, pools, metrics) from pulumi destroy and replacement"` //nolint:lll // a struct tag cannot be wrapped
}

// Environment is one deployment target: a stack name of the main program.
type Environment struct {
	Project           string `json:"project" doc:"Google Cloud project the environment's stack deploys to (required; neither gcp:project nor another environment's project)"`                                                                                       //nolint:lll // a struct tag cannot be wrapped
	GitHubEnvironment string `json:"githubEnvironment" doc:"when set, only jobs of Workflow running in this GitHub environment on Branch, started by a push or by hand, may deploy; pull requests get a read-only previewer instead (required unless unprotected)"` //nolint:lll // a struct tag cannot be wrapped
	Branch            string `json:"branch" doc:"branch deployments of a protected environment run from"`
	Workflow          string `json:"workflow" doc:"file name, under .github/workflows, of the only workflow whose jobs may deploy a protected environment (its job_workflow_ref claim)"`                                                                                //nolint:lll // a struct tag cannot be wrapped
	Unprotected       bool   `json:"unprotected" doc:"say so explicitly for an environment without githubEnvironment: every branch pull request of the repository can then act as its deployer (a shared test environment such as dev)"`                                //nolint:lll // a struct tag cannot be wrapped
	CreatesCluster    bool   `json:"createsCluster" doc:"the environment's stack creates its GKE cluster (asyncjobs:gke.create): only then does its deployer get roles/container.clusterAdmin and the right to grant the GKE node role"`                                //nolint:lll // a struct tag cannot be wrapped
	ClusterProject    string `json:"clusterProject" doc:"project of the environment's GKE cluster when it is not project (the stack's asyncjobs:gke.project); the CronJob completions metric is created there (neither gcp:project nor another environment's project)"` //nolint:lll // a struct tag cannot be wrapped
}

// Protected reports whether deploying needs the GitHub environment.
func (e Environment) Protected() bool { return e.GitHubEnvironment != "" }

// ClusterProjectID is the project of the environment's GKE cluster, where
// GKE writes its CronJobs' events: ClusterProject, else Project.
func (e Environment) ClusterProjectID() string {
	if e.ClusterProject != "" {
		return e.ClusterProject
	}
	return e.Project
}

// Defaults returns the configuration a stack starts from.
func Defaults() Config {
	return Config{PoolID: "github", Protect: true, Environments: map[string]Environment{}}
}

// ConfigError lists every problem found in the configuration.
type ConfigError struct{ Errs field.ErrorList }

func (e *ConfigError) Error() string {
	lines := []string{fmt.Sprintf("invalid bootstrap configuration (%d problems):", len(e.Errs))}
	for _, err := range e.Errs {
		lines = append(lines, "  "+err.Error())
	}
	return strings.Join(lines, "\n")
}

// ContextConfig reads the configuration the Pulumi engine hands the program
// through its context (language host, inline runtime and offline recorder
// alike).
func ContextConfig(ctx strictconfig.Getter) (map[string]string, error) {
	keys := append([]string{ProjectKey}, strictconfig.NamespaceKeys(Namespace, reflect.TypeOf(Config{}))...)
	return strictconfig.Read(ctx, keys)
}

// Load decodes src strictly onto the defaults and validates the result; the
// error lists every problem with its key path.
func Load(src map[string]string) (Config, error) {
	cfg := Defaults()
	var errs field.ErrorList
	if p, ok := src[ProjectKey]; ok {
		cfg.Project = p
	} else {
		errs = append(errs, field.Required(field.NewPath(ProjectKey),
			"the project that holds the pools, accounts, bucket and keys (pulumi config set gcp:project <id>)"))
	}
	errs = append(errs, strictconfig.Decode(src, Namespace, &cfg)...)
	if len(errs) == 0 {
		errs = cfg.Validate()
	}
	if len(errs) > 0 {
		return cfg, &ConfigError{Errs: errs}
	}
	for name, env := range cfg.Environments {
		if env.Protected() && env.Branch == "" {
			env.Branch = "main"
		}
		if env.Protected() && env.Workflow == "" {
			env.Workflow = DeployWorkflow
		}
		cfg.Environments[name] = env
	}
	return cfg, nil
}

var (
	projectRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	repositoryRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$`)
	bucketRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$`)
	locationRE   = regexp.MustCompile(`^[a-z]+(?:-[a-z]+[0-9]+)?$`)
	poolRE       = regexp.MustCompile(`^[a-z0-9-]{4,32}$`)
	envNameRE    = regexp.MustCompile(`^[a-z][a-z0-9]{0,11}$`)
	// GitHub environment and branch names go into CEL string literals: no
	// quotes, backslashes or control characters.
	ghEnvRE = regexp.MustCompile(`^[A-Za-z0-9 ._-]{1,255}$`)
	// GitHub's numeric ids, as the token claims carry them (strings).
	numericIDRE = regexp.MustCompile(`^[1-9][0-9]{0,19}$`)
	branchRE    = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,255}$`)
	workflowRE  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}\.ya?ml$`)
)

// DeployWorkflow is the workflow (under .github/workflows) whose jobs may
// deploy a protected environment unless its workflow key says otherwise.
const DeployWorkflow = "deploy.yml"

// Validate checks every value; it returns all problems at once.
func (c Config) Validate() field.ErrorList {
	var errs field.ErrorList
	key := func(name string) *field.Path { return field.NewPath(Namespace + ":" + name) }
	if !projectRE.MatchString(c.Project) {
		errs = append(errs, field.Invalid(field.NewPath(ProjectKey), c.Project,
			"a Google Cloud project id: 6-30 lowercase letters, digits or hyphens, starting with a letter"))
	}
	switch {
	case c.Repository == "":
		errs = append(errs, field.Required(key("repository"), "the GitHub repository as owner/name"))
	case !repositoryRE.MatchString(c.Repository):
		errs = append(errs, field.Invalid(key("repository"), c.Repository, "owner/name, e.g. my-org/asyncjobs"))
	}
	for _, id := range []struct{ key, value, what string }{
		{"repositoryId", c.RepositoryID, "the repository's numeric id (gh api repos/<owner>/<name> --jq .id)"},
		{"repositoryOwnerId", c.OwnerID, "the owner's numeric id (gh api repos/<owner>/<name> --jq .owner.id)"},
	} {
		switch {
		case id.value == "":
			errs = append(errs, field.Required(key(id.key), id.what))
		case !numericIDRE.MatchString(id.value):
			errs = append(errs, field.Invalid(key(id.key), id.value, "digits only: "+id.what))
		}
	}
	switch {
	case c.StateBucket == "":
		errs = append(errs, field.Required(key("stateBucket"), "a globally unique bucket name"))
	case !bucketRE.MatchString(c.StateBucket) || strings.HasPrefix(c.StateBucket, "goog") || strings.Contains(c.StateBucket, "google"):
		errs = append(errs, field.Invalid(key("stateBucket"), c.StateBucket,
			"3-63 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit, without goog/google"))
	}
	switch {
	case c.Location == "":
		errs = append(errs, field.Required(key("location"), "a region (asia-northeast1) or multi-region (asia)"))
	case !locationRE.MatchString(c.Location):
		errs = append(errs, field.Invalid(key("location"), c.Location, "a region such as asia-northeast1 or a multi-region such as asia"))
	}
	if !poolRE.MatchString(c.PoolID) || strings.HasPrefix(c.PoolID, "gcp-") {
		errs = append(errs, field.Invalid(key("poolId"), c.PoolID, "4-32 lowercase letters, digits or hyphens, not starting with gcp-"))
	}
	if len(c.Environments) == 0 {
		errs = append(errs, field.Required(key("environments"),
			"at least one environment, e.g. {dev: {project: my-dev}, prod: {project: my-prod, githubEnvironment: production, createsCluster: true}}"))
	}
	names := slices.Sorted(maps.Keys(c.Environments))
	projectOf := map[string]string{}
	for _, n := range names {
		e := c.Environments[n]
		p := key("environments").Key(n)
		if !envNameRE.MatchString(n) {
			errs = append(errs, field.Invalid(p, n, "1-12 lowercase letters or digits, starting with a letter (it names service accounts, keys and pools)"))
		}
		switch {
		case e.Project == "":
			errs = append(errs, field.Required(p.Child("project"), "the project the environment's stack deploys to, other than gcp:project"))
		case !projectRE.MatchString(e.Project):
			errs = append(errs, field.Invalid(p.Child("project"), e.Project, "a Google Cloud project id"))
		case e.Project == c.Project:
			errs = append(errs, field.Invalid(p.Child("project"), e.Project, fmt.Sprintf(
				"is the host project %s (gcp:project), which holds every deployer account and the state: "+
					"an environment's deployer holds admin roles on its project and would reach the other environments' deployers; "+
					"use a project no environment deploys to as gcp:project", c.Project)))
		case projectOf[e.Project] != "":
			errs = append(errs, field.Invalid(p.Child("project"), e.Project, fmt.Sprintf(
				"is also environment %s's project: each deployer's roles on its project would reach the other environment's resources and accounts",
				projectOf[e.Project])))
		default:
			projectOf[e.Project] = n
		}
		if e.ClusterProject != "" {
			cp := p.Child("clusterProject")
			switch other := envOfProject(c.Environments, e.ClusterProject); {
			case !projectRE.MatchString(e.ClusterProject):
				errs = append(errs, field.Invalid(cp, e.ClusterProject, "a Google Cloud project id"))
			case e.ClusterProject == c.Project:
				errs = append(errs, field.Invalid(cp, e.ClusterProject, fmt.Sprintf("is the host project %s (gcp:project), to which no environment deploys", c.Project)))
			case other != "" && other != n:
				errs = append(errs, field.Invalid(cp, e.ClusterProject, fmt.Sprintf(
					"is environment %s's project, where that environment's deployer could change the workloads and silence the alerts of this one", other)))
			}
		}
		if c.StateBucket != "" && len(c.StateBucket)+1+len(n) > 63 {
			errs = append(errs, field.Invalid(p, n, fmt.Sprintf("state bucket %s-%s is longer than 63 characters", c.StateBucket, n)))
		}
		if e.GitHubEnvironment != "" && !ghEnvRE.MatchString(e.GitHubEnvironment) {
			errs = append(errs, field.Invalid(p.Child("githubEnvironment"), e.GitHubEnvironment, "letters, digits, spaces, '.', '_' or '-'"))
		}
		switch {
		case !e.Protected() && !e.Unprotected:
			// Without the GitHub environment the deployer trusts the
			// repository's pool, which admits every branch pull request:
			// a production environment must never end up there by an
			// omission.
			errs = append(errs, field.Required(p.Child("githubEnvironment"),
				"the protected GitHub environment (e.g. production) whose jobs alone may deploy; "+
					"without one every branch pull request of the repository can act as this environment's deployer: "+
					"set unprotected: true to allow that (a shared test environment such as dev)"))
		case e.Protected() && e.Unprotected:
			errs = append(errs, field.Invalid(p.Child("unprotected"), e.Unprotected, "contradicts githubEnvironment "+e.GitHubEnvironment))
		}
		if e.Branch != "" && !e.Protected() {
			errs = append(errs, field.Invalid(p.Child("branch"), e.Branch, "only meaningful with githubEnvironment"))
		} else if e.Branch != "" && !branchRE.MatchString(e.Branch) {
			errs = append(errs, field.Invalid(p.Child("branch"), e.Branch, "a branch name"))
		}
		if e.Workflow != "" && !e.Protected() {
			errs = append(errs, field.Invalid(p.Child("workflow"), e.Workflow, "only meaningful with githubEnvironment"))
		} else if e.Workflow != "" && !workflowRE.MatchString(e.Workflow) {
			errs = append(errs, field.Invalid(p.Child("workflow"), e.Workflow, "a workflow file name under .github/workflows, e.g. deploy.yml"))
		}
		if e.Protected() && len(c.PoolID)+1+len(n) > 32 {
			errs = append(errs, field.Invalid(p, n, fmt.Sprintf("pool id %s-%s is longer than 32 characters", c.PoolID, n)))
		}
	}
	return errs
}

// envOfProject names the environment whose project is project ("" for none).
func envOfProject(envs map[string]Environment, project string) string {
	for _, n := range slices.Sorted(maps.Keys(envs)) {
		if envs[n].Project == project {
			return n
		}
	}
	return ""
}
