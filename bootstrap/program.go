package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/iam"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/kms"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/logging"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/organizations"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/storage"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/asyncjobs/asyncjobs/components/monitoring"
	"github.com/asyncjobs/asyncjobs/internal/program/protect"
)

// Role is a predefined role, the reason an identity holds it, and, when
// not every environment needs it, the condition under which it is granted.
type Role struct {
	Name string
	Why  string
	// OnlyIf names the Environment flag the role needs ("" for every
	// environment); see Environment.DeployerRoles.
	OnlyIf string
	// Condition is an IAM condition (CEL) that narrows the grant.
	Condition string
}

// OnlyIfCreatesCluster marks roles granted only to the deployer of an
// environment whose stack creates its GKE cluster.
const OnlyIfCreatesCluster = "createsCluster"

// NodeRole is the role a created cluster's node account holds
// (components/gke); a deployer that creates a cluster may grant it and no
// other role on its project.
const NodeRole = "roles/container.defaultNodeServiceAccount"

// DeployerRoles are granted on an environment's project (never the host
// project) to its deployer: what `pulumi up` and `pulumi destroy` of the
// asyncjobs stack need, each the narrowest predefined role that can also set
// IAM on the resource it manages. They are project-level because the stack
// creates the resources they act on (Google has no grant on a resource that
// does not exist yet, and test stacks name theirs with a fresh suffix); the
// stack itself then grants on single resources only. Since no deployer
// account lives in an environment's project and no two environments share
// one, a deployer's project roles reach its own environment only.
var DeployerRoles = []Role{
	{Name: "roles/run.admin", Why: "create and update the Cloud Run worker and grant run.invoker on that service (run.developer cannot set IAM policy)"},
	{Name: "roles/cloudtasks.admin", Why: "create and update queues and grant cloudtasks.enqueuer on each queue (cloudtasks.queueAdmin cannot set IAM policy)"},
	{Name: "roles/pubsub.admin",
		Why: "create topics, subscriptions and dead-letter policies and grant publisher/subscriber on them (pubsub.editor cannot set IAM policy)"},
	{Name: "roles/iam.serviceAccountAdmin",
		Why: "create, update and delete the stack's service accounts and set IAM on each " +
			"(actAs to the deployers, workloadIdentityUser to a Kubernetes service account); " +
			"project-level because the accounts exist only once the stack creates them, " +
			"and no predefined role narrower than this one sets IAM on an account (serviceAccountCreator cannot). " +
			"It reaches only this environment's accounts: the deployers live in the host project, where no deployer holds any role"},
	{Name: "roles/container.developer",
		Why: "read the GKE cluster's endpoint and create the namespace, service accounts, subscriber Deployments, HPAs and CronJobs in it " +
			"(no rights on the cluster itself)"},
	{Name: "roles/serviceusage.serviceUsageAdmin", Why: "enable the Google APIs the stack uses (never disabled on destroy)"},
	{Name: "roles/browser", Why: "read the project: its number names the Pub/Sub service agent"},
	{Name: "roles/monitoring.editor", Why: "create and update the stack's alert policies, e-mail notification channels and dashboard"},
	{Name: "roles/logging.configWriter",
		Why: "create and update the stack's log-based metrics of failed and missed CronJob runs, which its dashboard charts " +
			"(the counter of completed runs the overdue alerts read is the bootstrap's, made once per cluster project)"},
	{Name: "roles/container.clusterAdmin", OnlyIf: OnlyIfCreatesCluster,
		Why: "create and update the Autopilot cluster (no rights on the objects inside it); only for an environment with createsCluster"},
	{Name: "roles/resourcemanager.projectIamAdmin", OnlyIf: OnlyIfCreatesCluster,
		Condition: fmt.Sprintf("api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(['%s'])", NodeRole),
		Why: "grant " + NodeRole + " to the created cluster's node account, GKE's node role, which exists on projects only; " +
			"an IAM condition lets it grant or revoke that role and no other; only for an environment with createsCluster"},
}

// DeployerRoles are the roles of the environment's deployer: every
// DeployerRoles entry whose OnlyIf flag the environment sets.
func (e Environment) DeployerRoles() []Role {
	var out []Role
	for _, r := range DeployerRoles {
		if r.OnlyIf == "" || (r.OnlyIf == OnlyIfCreatesCluster && e.CreatesCluster) {
			out = append(out, r)
		}
	}
	return out
}

// PreviewerRoles are granted on a protected environment's project to its
// previewer, which pull requests use for `pulumi preview` (with or without
// refresh): read access only.
var PreviewerRoles = []Role{
	{Name: "roles/browser", Why: "read the project and its number"},
	{Name: "roles/run.viewer", Why: "read the Cloud Run service and its IAM policy"},
	{Name: "roles/cloudtasks.viewer", Why: "read the queues and their IAM policies"},
	{Name: "roles/pubsub.viewer", Why: "read topics, subscriptions and their IAM policies"},
	{Name: "roles/iam.serviceAccountViewer", Why: "read the stack's service accounts and their IAM policies"},
	{Name: "roles/serviceusage.serviceUsageViewer", Why: "read which APIs are enabled"},
	{Name: "roles/monitoring.viewer", Why: "read the alert policies, notification channels and dashboard"},
	{Name: "roles/logging.viewer", Why: "read the log-based metrics"},
	{Name: "roles/container.viewer", Why: "read the GKE cluster and the stack's Kubernetes objects"},
}

// State access, on the bucket and on the environment's key only.
const (
	roleStateWriter  = "roles/storage.objectUser"                   // read and write state, checkpoints and locks
	roleStateReader  = "roles/storage.objectViewer"                 // preview reads state and takes no lock
	roleKeyUser      = "roles/cloudkms.cryptoKeyEncrypterDecrypter" // the stacks' secrets
	roleKeyReader    = "roles/cloudkms.cryptoKeyDecrypter"          // previews decrypt, never encrypt
	roleWorkloadUser = "roles/iam.workloadIdentityUser"
)

// APIs are enabled in the bootstrap project (never disabled on destroy).
var APIs = []string{
	"cloudresourcemanager.googleapis.com",
	"iam.googleapis.com",
	"iamcredentials.googleapis.com",
	"sts.googleapis.com",
	"cloudkms.googleapis.com",
	"storage.googleapis.com",
}

// GitHubIssuer is the issuer of GitHub Actions OIDC tokens.
const GitHubIssuer = "https://token.actions.githubusercontent.com"

// KeyRingName holds one key per environment.
const KeyRingName = "pulumi"

// KeyRotation rotates the secrets keys every 90 days.
const KeyRotation = "7776000s"

// Program is the bootstrap Pulumi program.
func Program(ctx *pulumi.Context) error {
	src, err := ContextConfig(ctx)
	if err != nil {
		return err
	}
	cfg, err := Load(src)
	if err != nil {
		return err
	}
	return Build(ctx, cfg)
}

// RepositoryEvents are the events whose jobs the repository's pool admits:
// those of the workflows that authenticate (pull-request.yml,
// test-stacks.yml, deploy.yml). A pull_request_target, workflow_run or
// issue_comment job runs the default branch's workflow with this
// repository's ids for anyone who opens a pull request, forks included:
// were such a job ever given id-token: write, its tokens are still
// refused (TestThreatModel/pull-request-target-on-main).
var RepositoryEvents = []string{"pull_request", "push", "schedule", "workflow_dispatch"}

// DeployEvents are the events whose jobs may deploy a protected
// environment: a push to its branch, or a run started by hand.
var DeployEvents = []string{"push", "workflow_dispatch"}

// RepositoryCondition admits tokens of the repository's workflows only, by
// its numeric id and its owner's (a deleted repository's or account's name
// can be registered again by someone else, an id cannot; another
// repository of the same owner has its own id), and only for the events of
// RepositoryEvents. The claims are GitHub's (docs.github.com, "OpenID
// Connect reference": repository_id, repository_owner_id, event_name,
// environment, ref, job_workflow_ref); the condition is Google's CEL over
// them (assertion.<claim>).
func RepositoryCondition(repositoryID, ownerID string) string {
	return fmt.Sprintf("assertion.repository_id == %q && assertion.repository_owner_id == %q && assertion.event_name in %s",
		repositoryID, ownerID, celList(RepositoryEvents))
}

// EnvironmentCondition admits tokens of jobs that run in the GitHub
// environment, on the branch, of the repository, started by a push or by
// hand, and defined by the deploy workflow of that branch
// (job_workflow_ref: <owner>/<name>/.github/workflows/<file>@<ref>). GitHub
// puts the environment claim only into tokens of jobs that declare the
// environment, and lets such a job run only once the environment's
// protection rules (required reviewers, allowed branches) are met; the
// event and the workflow keep out every other job on the branch that
// names the environment (a scheduled sweep, a pull_request_target or
// workflow_run job, another workflow).
func EnvironmentCondition(repositoryID, ownerID, repository, environment, branch, workflow string) string {
	ref := "refs/heads/" + branch
	return fmt.Sprintf("assertion.repository_id == %q && assertion.repository_owner_id == %q && assertion.event_name in %s"+
		" && assertion.environment == %q && assertion.ref == %q && assertion.job_workflow_ref == %q",
		repositoryID, ownerID, celList(DeployEvents), environment, ref, WorkflowRef(repository, workflow, ref))
}

// WorkflowRef is the job_workflow_ref claim of a job of workflow (a file
// under .github/workflows) of the repository run at ref.
func WorkflowRef(repository, workflow, ref string) string {
	return repository + "/.github/workflows/" + workflow + "@" + ref
}

// celList renders strings as a CEL list literal.
func celList(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// Build declares everything from a validated configuration.
func Build(ctx *pulumi.Context, cfg Config) error {
	// Everything, not only the data: a destroy deletes what is not
	// protected before it meets what is, and losing the deployer accounts,
	// their grants or a pool (whose id Google keeps for 30 days) cuts every
	// workflow off.
	if cfg.Protect {
		if err := ctx.RegisterStackTransformation(protect.All); err != nil {
			return err
		}
	}
	host := pulumi.String(cfg.Project)
	var apis []pulumi.Resource
	for _, api := range APIs {
		s, err := projects.NewService(ctx, "api-"+strings.TrimSuffix(api, ".googleapis.com"), &projects.ServiceArgs{
			Project:                  host,
			Service:                  pulumi.String(api),
			DisableOnDestroy:         pulumi.Bool(false),
			DisableDependentServices: pulumi.Bool(false),
		})
		if err != nil {
			return err
		}
		apis = append(apis, s)
	}
	afterAPIs := pulumi.DependsOn(apis)

	number := organizations.LookupProjectOutput(ctx, organizations.LookupProjectOutputArgs{ProjectId: host}).Number()
	// The principal set of a pool's tokens from the repository (by id).
	principalSet := func(pool *iam.WorkloadIdentityPool, poolID string) pulumi.StringOutput {
		return pulumi.Sprintf("principalSet://iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/%s/attribute.repository_id/%s",
			number, pool.WorkloadIdentityPoolId, cfg.RepositoryID)
	}
	newPool := func(name, poolID, display, condition string, mapping map[string]string) (*iam.WorkloadIdentityPool, *iam.WorkloadIdentityPoolProvider, error) {
		pool, err := iam.NewWorkloadIdentityPool(ctx, name, &iam.WorkloadIdentityPoolArgs{
			Project:                host,
			WorkloadIdentityPoolId: pulumi.String(poolID),
			DisplayName:            pulumi.String(display),
			Description:            pulumi.String("GitHub Actions of " + cfg.Repository + " (asyncjobs bootstrap)"),
		}, afterAPIs)
		if err != nil {
			return nil, nil, err
		}
		provider, err := iam.NewWorkloadIdentityPoolProvider(ctx, name, &iam.WorkloadIdentityPoolProviderArgs{
			Project:                        host,
			WorkloadIdentityPoolId:         pool.WorkloadIdentityPoolId,
			WorkloadIdentityPoolProviderId: pulumi.String("github"),
			DisplayName:                    pulumi.String("GitHub Actions"),
			AttributeMapping:               pulumi.ToStringMap(mapping),
			AttributeCondition:             pulumi.String(condition),
			Oidc:                           &iam.WorkloadIdentityPoolProviderOidcArgs{IssuerUri: pulumi.String(GitHubIssuer)},
		})
		return pool, provider, err
	}
	mapping := map[string]string{
		"google.subject":                "assertion.sub",
		"attribute.repository":          "assertion.repository",
		"attribute.repository_id":       "assertion.repository_id",
		"attribute.repository_owner_id": "assertion.repository_owner_id",
		"attribute.ref":                 "assertion.ref",
		"attribute.actor":               "assertion.actor",
	}
	repoPool, repoProvider, err := newPool("github", cfg.PoolID, "GitHub Actions", RepositoryCondition(cfg.RepositoryID, cfg.OwnerID), mapping)
	if err != nil {
		return err
	}

	// One state bucket per environment: a deployer can write its own
	// environment's state only, and the previewer read prod's only.
	newBucket := func(envName string) (*storage.Bucket, error) {
		return storage.NewBucket(ctx, "state-"+envName, &storage.BucketArgs{
			Project:                  host,
			Name:                     pulumi.String(cfg.StateBucket + "-" + envName),
			Location:                 pulumi.String(strings.ToUpper(cfg.Location)),
			UniformBucketLevelAccess: pulumi.Bool(true),
			PublicAccessPrevention:   pulumi.String("enforced"),
			Versioning:               &storage.BucketVersioningArgs{Enabled: pulumi.Bool(true)},
			ForceDestroy:             pulumi.Bool(false),
			// Old checkpoints stay recoverable for 90 days.
			LifecycleRules: storage.BucketLifecycleRuleArray{&storage.BucketLifecycleRuleArgs{
				Action:    &storage.BucketLifecycleRuleActionArgs{Type: pulumi.String("Delete")},
				Condition: &storage.BucketLifecycleRuleConditionArgs{DaysSinceNoncurrentTime: pulumi.Int(90)},
			}},
			Labels: pulumi.StringMap{"purpose": pulumi.String("pulumi-state"), "environment": pulumi.String(envName)},
		}, afterAPIs)
	}
	ring, err := kms.NewKeyRing(ctx, "secrets", &kms.KeyRingArgs{
		Project:  host,
		Name:     pulumi.String(KeyRingName),
		Location: pulumi.String(cfg.Location),
	}, afterAPIs)
	if err != nil {
		return err
	}

	vars := pulumi.StringMap{
		"GCP_WORKLOAD_IDENTITY_PROVIDER": repoProvider.Name,
	}
	buckets := pulumi.StringMap{}
	names := slices.Sorted(maps.Keys(cfg.Environments))
	for _, envName := range names {
		env := cfg.Environments[envName]
		upper := strings.ToUpper(envName)
		bucket, err := newBucket(envName)
		if err != nil {
			return err
		}
		vars["PULUMI_BACKEND_URL_"+upper] = pulumi.String("gs://" + cfg.StateBucket + "-" + envName)
		buckets[envName] = bucket.Url
		key, err := kms.NewCryptoKey(ctx, "secrets-"+envName, &kms.CryptoKeyArgs{
			Name:           pulumi.String(envName),
			KeyRing:        ring.ID(),
			Purpose:        pulumi.String("ENCRYPT_DECRYPT"),
			RotationPeriod: pulumi.String(KeyRotation),
		})
		if err != nil {
			return err
		}
		vars["PULUMI_SECRETS_PROVIDER_"+upper] = pulumi.String(fmt.Sprintf("gcpkms://projects/%s/locations/%s/keyRings/%s/cryptoKeys/%s",
			cfg.Project, cfg.Location, KeyRingName, envName))

		// The pool whose tokens may act as the deployer: the repository's,
		// or for a protected environment its own, which admits only jobs
		// of that GitHub environment on its branch.
		deployPool, deployPoolID := repoPool, cfg.PoolID
		if env.Protected() {
			deployPoolID = cfg.PoolID + "-" + envName
			envMapping := map[string]string{"attribute.environment": "assertion.environment"}
			for k, v := range mapping {
				envMapping[k] = v
			}
			pool, provider, err := newPool("github-"+envName, deployPoolID, "GitHub Actions: "+env.GitHubEnvironment,
				EnvironmentCondition(cfg.RepositoryID, cfg.OwnerID, cfg.Repository, env.GitHubEnvironment, env.Branch, env.Workflow), envMapping)
			if err != nil {
				return err
			}
			deployPool = pool
			vars["GCP_WORKLOAD_IDENTITY_PROVIDER_"+upper] = provider.Name
		}
		deployer, err := identity(ctx, cfg, identityArgs{
			name: "deployer-" + envName, accountID: "pulumi-" + envName,
			display:     "Pulumi deployer: " + envName,
			description: fmt.Sprintf("Runs pulumi up for the %s stack of asyncjobs from GitHub Actions of %s.", envName, cfg.Repository),
			project:     env.Project, roles: env.DeployerRoles(),
			bucket: bucket, bucketRole: roleStateWriter, key: key, keyRole: roleKeyUser,
			principal: principalSet(deployPool, deployPoolID), deps: afterAPIs,
		})
		if err != nil {
			return err
		}
		vars["GCP_SERVICE_ACCOUNT_"+upper] = deployer.Email

		if env.Protected() {
			previewer, err := identity(ctx, cfg, identityArgs{
				name: "previewer-" + envName, accountID: "pulumi-" + envName + "-preview",
				display:     "Pulumi previewer: " + envName,
				description: fmt.Sprintf("Runs pulumi preview of the %s stack of asyncjobs for pull requests of %s; read-only.", envName, cfg.Repository),
				project:     env.Project, roles: PreviewerRoles,
				bucket: bucket, bucketRole: roleStateReader, key: key, keyRole: roleKeyReader,
				principal: principalSet(repoPool, cfg.PoolID), deps: afterAPIs,
			})
			if err != nil {
				return err
			}
			vars["GCP_SERVICE_ACCOUNT_"+upper+"_PREVIEW"] = previewer.Email
		}
	}

	if err := completionsMetrics(ctx, cfg); err != nil {
		return err
	}

	ctx.Export("githubVariables", vars)
	ctx.Export("stateBuckets", buckets)
	ctx.Export("attributeCondition", pulumi.String(RepositoryCondition(cfg.RepositoryID, cfg.OwnerID)))
	return nil
}

// ClusterProjects lists, sorted and once each, the projects that hold an
// environment's GKE cluster.
func (c Config) ClusterProjects() []string {
	seen := map[string]bool{}
	for _, env := range c.Environments {
		seen[env.ClusterProjectID()] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// completionsMetrics creates, in every project that holds an environment's
// cluster, the counter of successful CronJob runs that the stacks' overdue
// alerts read (monitoring.CompletionsMetric), with the Logging API it
// needs. A stack never creates it: Cloud Monitoring refuses an alert
// policy on a log-based metric for up to 10 minutes after the metric is
// created, so an alert declared in the same update as its metric would
// fail a stack's first up. Made here, it is available long before.
func completionsMetrics(ctx *pulumi.Context, cfg Config) error {
	for _, project := range cfg.ClusterProjects() {
		api, err := projects.NewService(ctx, "api-logging-"+project, &projects.ServiceArgs{
			Project:                  pulumi.String(project),
			Service:                  pulumi.String("logging.googleapis.com"),
			DisableOnDestroy:         pulumi.Bool(false),
			DisableDependentServices: pulumi.Bool(false),
		})
		if err != nil {
			return err
		}
		metric := monitoring.CompletionsMetric(project)
		if _, err := logging.NewMetric(ctx, "cronjob-completed-"+project, metric.Args(project), pulumi.DependsOn([]pulumi.Resource{api})); err != nil {
			return err
		}
	}
	return nil
}

type identityArgs struct {
	name, accountID, display, description, project string
	roles                                          []Role
	bucket                                         *storage.Bucket
	bucketRole                                     string
	key                                            *kms.CryptoKey
	keyRole                                        string
	principal                                      pulumi.StringOutput
	deps                                           pulumi.ResourceOption
}

// identity creates a service account that GitHub Actions tokens of
// principal may impersonate (workloadIdentityUser on this account only, no
// key), with the given roles on the environment's project, access to the
// state bucket and to the environment's secrets key.
func identity(ctx *pulumi.Context, cfg Config, a identityArgs) (*serviceaccount.Account, error) {
	sa, err := serviceaccount.NewAccount(ctx, a.name, &serviceaccount.AccountArgs{
		Project:     pulumi.String(cfg.Project),
		AccountId:   pulumi.String(a.accountID),
		DisplayName: pulumi.String(a.display),
		Description: pulumi.String(a.description),
	}, a.deps)
	if err != nil {
		return nil, err
	}
	for _, r := range a.roles {
		args := &projects.IAMMemberArgs{
			Project: pulumi.String(a.project),
			Role:    pulumi.String(r.Name),
			Member:  sa.Member,
		}
		if r.Condition != "" {
			args.Condition = &projects.IAMMemberConditionArgs{
				Title:       pulumi.String("limited role grants"),
				Description: pulumi.String("Narrows " + r.Name + " to what asyncjobs needs (see bootstrap/program.go)."),
				Expression:  pulumi.String(r.Condition),
			}
		}
		if _, err := projects.NewIAMMember(ctx, a.name+"-"+roleSlug(r.Name), args); err != nil {
			return nil, err
		}
	}
	if _, err := storage.NewBucketIAMMember(ctx, a.name+"-state", &storage.BucketIAMMemberArgs{
		Bucket: a.bucket.Name,
		Role:   pulumi.String(a.bucketRole),
		Member: sa.Member,
	}); err != nil {
		return nil, err
	}
	if _, err := kms.NewCryptoKeyIAMMember(ctx, a.name+"-secrets", &kms.CryptoKeyIAMMemberArgs{
		CryptoKeyId: a.key.ID(),
		Role:        pulumi.String(a.keyRole),
		Member:      sa.Member,
	}); err != nil {
		return nil, err
	}
	if _, err := serviceaccount.NewIAMMember(ctx, a.name+"-github", &serviceaccount.IAMMemberArgs{
		ServiceAccountId: sa.Name,
		Role:             pulumi.String(roleWorkloadUser),
		Member:           a.principal,
	}); err != nil {
		return nil, err
	}
	return sa, nil
}

// roleSlug turns roles/run.admin into run-admin for logical names.
func roleSlug(role string) string {
	return strings.NewReplacer(".", "-", "/", "-").Replace(strings.TrimPrefix(role, "roles/"))
}
