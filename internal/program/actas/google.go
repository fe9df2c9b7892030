package actas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/credentials/impersonate"
	"cloud.google.com/go/compute/metadata"
	iam "google.golang.org/api/iam/v1"
	"google.golang.org/api/option"
)

// EndpointEnv points the checks at another IAM API: a loopback http URL
// (an httptest server in tests, the rehearsal's fake Google), called
// without credentials. Unset in real deployments.
const EndpointEnv = "ASYNCJOBS_IAM_ENDPOINT"

// IntervalEnv sets the pause between checks (a Go duration such as
// "200ms"). For tests and rehearsals only: real deployments keep
// DefaultInterval.
const IntervalEnv = "ASYNCJOBS_IAM_POLL_INTERVAL"

const cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"

// Provider is how the gcp provider of the stack is configured to
// authenticate (its gcp:accessToken, gcp:credentials and
// gcp:impersonateServiceAccount settings): the checks must be made as the
// identity that creates the resources.
type Provider struct {
	AccessToken               string
	Credentials               string
	ImpersonateServiceAccount string
}

// FromEnv returns the Checker a real deployment uses. It authenticates as
// pulumi-gcp does: gcp:accessToken or GOOGLE_OAUTH_ACCESS_TOKEN, else
// gcp:credentials or GOOGLE_CREDENTIALS (a key file's path or contents),
// else application default credentials; then, with
// gcp:impersonateServiceAccount or GOOGLE_IMPERSONATE_SERVICE_ACCOUNT, as
// that service account. EndpointEnv replaces all of this with an
// unauthenticated loopback endpoint. Credentials are looked up at the first
// check, not here.
func FromEnv(getenv func(string) string, p Provider) (*Checker, error) {
	var c *Checker
	if ep := getenv(EndpointEnv); ep != "" {
		if err := checkLoopbackURL(ep); err != nil {
			return nil, fmt.Errorf("%s=%q: %w", EndpointEnv, ep, err)
		}
		c = NewChecker(func(ctx context.Context) (*iam.Service, string, error) {
			svc, err := iam.NewService(ctx, option.WithEndpoint(ep), option.WithoutAuthentication())
			return svc, "the caller of " + ep, err
		})
	} else {
		c = NewChecker(func(ctx context.Context) (*iam.Service, string, error) {
			creds, who, err := providerCredentials(ctx, getenv, p)
			if err != nil {
				return nil, "", err
			}
			svc, err := iam.NewService(ctx, option.WithAuthCredentials(creds))
			return svc, who, err
		})
	}
	if v := getenv(IntervalEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s=%q: want a positive duration such as 500ms", IntervalEnv, v)
		}
		c.Interval = d
	}
	return c, nil
}

// checkLoopbackURL accepts http(s)://<loopback host>:<port>[/...]: the
// endpoint is called without credentials.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("want an http:// or https:// URL, such as http://127.0.0.1:8080")
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return errors.New("only loopback hosts are allowed (127.0.0.1, ::1, localhost): the endpoint is called without credentials")
	}
	return nil
}

func firstSet(getenv func(string) string, value string, envs ...string) (string, string) {
	if value != "" {
		return value, "configuration"
	}
	for _, e := range envs {
		if v := getenv(e); v != "" {
			return v, e
		}
	}
	return "", ""
}

// providerCredentials returns the credentials pulumi-gcp would use and who
// they are, as an IAM member where that can be told.
func providerCredentials(ctx context.Context, getenv func(string) string, p Provider) (*auth.Credentials, string, error) {
	var base *auth.Credentials
	var who string
	if token, from := firstSet(getenv, p.AccessToken, "GOOGLE_OAUTH_ACCESS_TOKEN"); token != "" {
		base = auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: staticToken(token)})
		who = "the identity of the access token from " + from
	} else if key, from := firstSet(getenv, p.Credentials, "GOOGLE_CREDENTIALS", "GOOGLE_CLOUD_KEYFILE_JSON", "GCLOUD_KEYFILE_JSON"); key != "" {
		b := []byte(key)
		if !strings.HasPrefix(strings.TrimSpace(key), "{") {
			var err error
			if b, err = os.ReadFile(key); err != nil {
				return nil, "", fmt.Errorf("reading the credentials file from %s: %w", from, err)
			}
		}
		var err error
		if base, err = credentials.NewCredentialsFromJSON(credentials.CredType(credType(b)), b,
			&credentials.DetectOptions{Scopes: []string{cloudPlatformScope}}); err != nil {
			return nil, "", fmt.Errorf("the credentials from %s: %w", from, err)
		}
		who = describe(ctx, base)
	} else {
		var err error
		if base, err = credentials.DetectDefault(&credentials.DetectOptions{Scopes: []string{cloudPlatformScope}}); err != nil {
			return nil, "", fmt.Errorf("no Google credentials "+
				"(the gcp provider needs them too: gcloud auth application-default login, or GOOGLE_APPLICATION_CREDENTIALS): %w", err)
		}
		who = describe(ctx, base)
	}
	target, _ := firstSet(getenv, p.ImpersonateServiceAccount, "GOOGLE_IMPERSONATE_SERVICE_ACCOUNT")
	if target == "" {
		return base, who, nil
	}
	creds, err := impersonate.NewCredentials(&impersonate.CredentialsOptions{
		TargetPrincipal: target, Scopes: []string{cloudPlatformScope}, Credentials: base,
	})
	if err != nil {
		return nil, "", fmt.Errorf("impersonating %s: %w", target, err)
	}
	return creds, "serviceAccount:" + target, nil
}

type staticToken string

func (t staticToken) Token(context.Context) (*auth.Token, error) {
	return &auth.Token{Value: string(t), Type: "Bearer"}, nil
}

func credType(b []byte) string {
	var f struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(b, &f)
	return f.Type
}

// describe names the identity of credentials: the service account of a key
// or of an impersonating credential file, the service account of the
// metadata server, else what kind of credentials they are.
func describe(ctx context.Context, creds *auth.Credentials) string {
	if b := creds.JSON(); len(b) > 0 {
		return describeJSON(b)
	}
	if metadata.OnGCE() {
		if email, err := metadata.EmailWithContext(ctx, "default"); err == nil && email != "" {
			return "serviceAccount:" + email
		}
	}
	return "the identity of your application default credentials"
}

func describeJSON(b []byte) string {
	var f struct {
		Type          string `json:"type"`
		ClientEmail   string `json:"client_email"`
		Impersonation string `json:"service_account_impersonation_url"`
	}
	_ = json.Unmarshal(b, &f)
	switch {
	case f.ClientEmail != "":
		return "serviceAccount:" + f.ClientEmail
	case f.Impersonation != "":
		// .../serviceAccounts/<email>:generateAccessToken
		rest := f.Impersonation[strings.LastIndex(f.Impersonation, "/")+1:]
		if email, _, ok := strings.Cut(rest, ":"); ok && strings.Contains(email, "@") {
			return "serviceAccount:" + email
		}
	case f.Type == "authorized_user":
		return "your user account (user:<your e-mail>, from gcloud auth application-default login)"
	}
	return fmt.Sprintf("the identity of your %s credentials", f.Type)
}
