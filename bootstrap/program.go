package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/iam"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/kms"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/organizations"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/storage"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Role is a predefined role and the reason an identity holds it.
type Role struct {
	Name string
	Why  string
}

// DeployerRoles are granted on an environment's project to its deployer:
// what `pulumi up` and `pulumi destroy` of the asyncjobs stack need, each
// the narrowest predefined role that can also set IAM on the resource it
// manages (the stack grants roles on single resources, never the project).
var DeployerRoles = []Role{
	{"roles/run.admin", "create and update the Cloud Run worker and grant run.invoker on that service (run.developer cannot set IAM policy)"},
	{"roles/cloudtasks.admin", "create and update queues and grant cloudtasks.enqueuer on each queue (cloudtasks.queueAdmin cannot set IAM policy)"},
	{"roles/pubsub.admin", "create topics, subscriptions and dead-letter policies and grant publisher/subscriber on them (pubsub.editor cannot set IAM policy)"},
	{"roles/iam.serviceAccountAdmin", "create the stack's service accounts and set IAM on each account only: actAs on an invoker to its enqueuer, on the worker's accounts to the deployers (asyncjobs:deployers), workloadIdentityUser on a workload's account to its Kubernetes service account"},
	{"roles/container.clusterAdmin", "create and update the Autopilot cluster when asyncjobs:gke.create is set (no rights on the objects inside it); unused with an existing cluster"},
	{"roles/container.developer", "read the existing GKE cluster's endpoint and create the namespace, service accounts, subscriber Deployments, HPAs and CronJobs in it (no rights on the cluster itself)"},
	{"roles/serviceusage.serviceUsageAdmin", "enable the Google APIs the stack uses (never disabled on destroy)"},
	{"roles/browser", "read the project: its number names the Pub/Sub service agent"},
	{"roles/monitoring.editor", "create and update the stack's alert policies, e-mail notification channels and dashboard"},
	{"roles/logging.configWriter", "create and update the log-based metrics the CronJob alerts count (in the cluster's project)"},
}

// PreviewerRoles are granted on a protected environment's project to its
// previewer, which pull requests use for `pulumi preview` (with or without
// refresh): read access only.
var PreviewerRoles = []Role{
	{"roles/browser", "read the project and its number"},
	{"roles/run.viewer", "read the Cloud Run service and its IAM policy"},
	{"roles/cloudtasks.viewer", "read the queues and their IAM policies"},
	{"roles/pubsub.viewer", "read topics, subscriptions and their IAM policies"},
	{"roles/iam.serviceAccountViewer", "read the stack's service accounts and their IAM policies"},
	{"roles/serviceusage.serviceUsageViewer", "read which APIs are enabled"},
	{"roles/monitoring.viewer", "read the alert policies, notification channels and dashboard"},
	{"roles/logging.viewer", "read the log-based metrics"},
	{"roles/container.viewer", "read the GKE cluster and the stack's Kubernetes objects"},
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

// RepositoryCondition admits tokens of the repository's workflows only.
func RepositoryCondition(repo string) string {
	return fmt.Sprintf("assertion.repository == %q", repo)
}

// EnvironmentCondition admits tokens of jobs that run in the GitHub
// environment, on the branch, of the repository. GitHub puts the
// environment claim only into tokens of jobs that declare the environment,
// and lets such a job run only once the environment's protection rules
// (required reviewers, allowed branches) are met.
func EnvironmentCondition(repo, environment, branch string) string {
	return fmt.Sprintf("assertion.repository == %q && assertion.environment == %q && assertion.ref == %q",
		repo, environment, "refs/heads/"+branch)
}

// Build declares everything from a validated configuration.
func Build(ctx *pulumi.Context, cfg Config) error {
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
	protect := pulumi.Protect(cfg.Protect)

	number := organizations.LookupProjectOutput(ctx, organizations.LookupProjectOutputArgs{ProjectId: host}).Number()
	// The principal set of a pool's tokens from the repository.
	principalSet := func(pool *iam.WorkloadIdentityPool, poolID string) pulumi.StringOutput {
		return pulumi.Sprintf("principalSet://iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/%s/attribute.repository/%s",
			number, pool.WorkloadIdentityPoolId, cfg.Repository)
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
		"google.subject":       "assertion.sub",
		"attribute.repository": "assertion.repository",
		"attribute.ref":        "assertion.ref",
		"attribute.actor":      "assertion.actor",
	}
	repoPool, repoProvider, err := newPool("github", cfg.PoolID, "GitHub Actions", RepositoryCondition(cfg.Repository), mapping)
	if err != nil {
		return err
	}

	bucket, err := storage.NewBucket(ctx, "state", &storage.BucketArgs{
		Project:                  host,
		Name:                     pulumi.String(cfg.StateBucket),
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
		Labels: pulumi.StringMap{"purpose": pulumi.String("pulumi-state")},
	}, afterAPIs, protect)
	if err != nil {
		return err
	}
	ring, err := kms.NewKeyRing(ctx, "secrets", &kms.KeyRingArgs{
		Project:  host,
		Name:     pulumi.String(KeyRingName),
		Location: pulumi.String(cfg.Location),
	}, afterAPIs, protect)
	if err != nil {
		return err
	}

	vars := pulumi.StringMap{
		"PULUMI_BACKEND_URL":             pulumi.String("gs://" + cfg.StateBucket),
		"GCP_WORKLOAD_IDENTITY_PROVIDER": repoProvider.Name,
	}
	names := slices.Sorted(maps.Keys(cfg.Environments))
	for _, envName := range names {
		env := cfg.Environments[envName]
		upper := strings.ToUpper(envName)
		key, err := kms.NewCryptoKey(ctx, "secrets-"+envName, &kms.CryptoKeyArgs{
			Name:           pulumi.String(envName),
			KeyRing:        ring.ID(),
			Purpose:        pulumi.String("ENCRYPT_DECRYPT"),
			RotationPeriod: pulumi.String(KeyRotation),
		}, protect)
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
				EnvironmentCondition(cfg.Repository, env.GitHubEnvironment, env.Branch), envMapping)
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
			project:     env.Project, roles: DeployerRoles,
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

	ctx.Export("githubVariables", vars)
	ctx.Export("stateBucket", bucket.Url)
	ctx.Export("attributeCondition", pulumi.String(RepositoryCondition(cfg.Repository)))
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
		if _, err := projects.NewIAMMember(ctx, a.name+"-"+roleSlug(r.Name), &projects.IAMMemberArgs{
			Project: pulumi.String(a.project),
			Role:    pulumi.String(r.Name),
			Member:  sa.Member,
		}); err != nil {
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
