package recorder

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/organizations"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type comp struct{ pulumi.ResourceState }

// program registers a component with an account and a grant whose member
// only exists after deployment, looks up the project, and exports values.
func program(ctx *pulumi.Context) error {
	c := &comp{}
	if err := ctx.RegisterComponentResource("test:x:Comp", "c", c); err != nil {
		return err
	}
	sa, err := serviceaccount.NewAccount(ctx, "sa", &serviceaccount.AccountArgs{
		Project: pulumi.String("p"), AccountId: pulumi.String("acct-one"),
	}, pulumi.Parent(c), pulumi.Protect(true), pulumi.RetainOnDelete(true))
	if err != nil {
		return err
	}
	if _, err := serviceaccount.NewIAMMember(ctx, "grant", &serviceaccount.IAMMemberArgs{
		ServiceAccountId: sa.Name, Role: pulumi.String("roles/iam.serviceAccountUser"), Member: sa.Member,
	}, pulumi.Parent(c), pulumi.ReplaceWith([]pulumi.Resource{sa})); err != nil {
		return err
	}
	proj := organizations.LookupProjectOutput(ctx, organizations.LookupProjectOutputArgs{ProjectId: pulumi.String("p")})
	ctx.Export("email", sa.Email)
	ctx.Export("number", proj.Number())
	ctx.Export("secret", pulumi.ToSecret(pulumi.String("s3cret")))
	ctx.Export("plain", pulumi.Map{"n": pulumi.Int(3), "list": pulumi.StringArray{pulumi.String("a")}})
	return nil
}

func TestPreviewRecordsUnknownsAndOptions(t *testing.T) {
	plan, err := Run(program, Options{Project: "proj", Stack: "dev", Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Resources) != 3 {
		t.Fatalf("recorded %d resources, want 3 (component, account, grant)", len(plan.Resources))
	}
	c := plan.Find("test:x:Comp", "c")
	sa := plan.Find("gcp:serviceaccount/account:Account", "sa")
	g := plan.Find("gcp:serviceaccount/iAMMember:IAMMember", "grant")
	if c == nil || sa == nil || g == nil {
		t.Fatalf("missing resources: %+v", plan.Resources)
	}
	if c.Custom || !sa.Custom {
		t.Errorf("custom flags wrong: component %v, account %v", c.Custom, sa.Custom)
	}
	if sa.URN != "urn:pulumi:dev::proj::test:x:Comp$gcp:serviceaccount/account:Account::sa" || sa.Parent != c.URN {
		t.Errorf("account urn %s parent %s", sa.URN, sa.Parent)
	}
	if !sa.Protect || !sa.RetainOnDelete {
		t.Errorf("protect %v retainOnDelete %v, want both", sa.Protect, sa.RetainOnDelete)
	}
	if g.Inputs["member"] != Computed || g.Inputs["serviceAccountId"] != Computed {
		t.Errorf("grant inputs %v: deployment values should be %q", g.Inputs, Computed)
	}
	if deps := g.PropertyDependencies["member"]; len(deps) != 1 || deps[0] != sa.URN {
		t.Errorf("member depends on %v, want the account", deps)
	}
	if len(g.ReplaceWith) != 1 || g.ReplaceWith[0] != sa.URN {
		t.Errorf("replaceWith %v", g.ReplaceWith)
	}
	for k, want := range map[string]any{"email": Computed, "number": PlaceholderProjectNumber, "secret": Secret} {
		if plan.Outputs[k] != want {
			t.Errorf("output %s = %#v, want %#v", k, plan.Outputs[k], want)
		}
	}
	plain, _ := plan.Outputs["plain"].(map[string]any)
	if plain["n"] != 3.0 {
		t.Errorf("output plain = %#v", plan.Outputs["plain"])
	}
	if len(plan.Invokes) != 1 || !plan.Invokes[0].Placeholder || plan.Invokes[0].Args["projectId"] != "p" {
		t.Errorf("invokes %+v", plan.Invokes)
	}
}

func TestSimulationFillsDeploymentValues(t *testing.T) {
	plan, err := Run(program, Options{Project: "proj", Stack: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	g := plan.Find("gcp:serviceaccount/iAMMember:IAMMember", "grant")
	if g == nil {
		t.Fatal("no grant")
	}
	if g.Inputs["member"] != "serviceAccount:acct-one@p.iam.gserviceaccount.com" ||
		g.Inputs["serviceAccountId"] != "projects/p/serviceAccounts/acct-one@p.iam.gserviceaccount.com" {
		t.Errorf("grant inputs %v", g.Inputs)
	}
	if plan.Outputs["email"] != "acct-one@p.iam.gserviceaccount.com" {
		t.Errorf("email output %v", plan.Outputs["email"])
	}
}

func TestErrorsKeepWhatWasRegistered(t *testing.T) {
	plan, err := Run(func(ctx *pulumi.Context) error {
		var out struct{}
		return ctx.Invoke("gcp:unknown/thing:thing", nil, &out)
	}, Options{Project: "proj", Stack: "dev", Preview: true})
	if err == nil || !strings.Contains(err.Error(), "no placeholder") {
		t.Fatalf("got %v, want an error about the missing placeholder", err)
	}
	if plan == nil || len(plan.Resources) != 0 {
		t.Errorf("plan %+v", plan)
	}
}

func TestConfigReachesTheProgram(t *testing.T) {
	var got string
	_, err := Run(func(ctx *pulumi.Context) error {
		got, _ = ctx.GetConfig("ns:key")
		return nil
	}, Options{Project: "proj", Stack: "dev", Config: map[string]string{"ns:key": "value"}})
	if err != nil {
		t.Fatal(err)
	}
	if got != "value" {
		t.Errorf("program read %q", got)
	}
}
