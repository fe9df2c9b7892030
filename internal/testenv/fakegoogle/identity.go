package fakegoogle

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// identities maps the access tokens the layer hands out to IAM members.
type identities struct {
	mu       sync.Mutex
	byToken  map[string]string
	byMember map[string]string
}

func newIdentities() *identities {
	return &identities{byToken: map[string]string{}, byMember: map[string]string{}}
}

func (ids *identities) token(member string) string {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if t, ok := ids.byMember[member]; ok {
		return t
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on the platforms this runs on; a
		// predictable token is still unique per member.
		sum := sha256.Sum256([]byte(member))
		b = sum[:24]
	}
	t := "fakegoogle." + hex.EncodeToString(b)
	ids.byToken[t], ids.byMember[member] = member, t
	return t
}

// member is who token stands for; "" when the layer never issued it.
func (ids *identities) member(token string) string {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	return ids.byToken[token]
}

// bearerToken is the access token of a request: the Authorization header's,
// else the access_token parameter Google also accepts.
func bearerToken(x *exchange) string {
	if h := x.header.Get("Authorization"); h != "" {
		if kind, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(kind, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	return x.query.Get("access_token")
}

// email is the address of a member that has one (users, service accounts).
func email(member string) string {
	kind, rest, _ := strings.Cut(member, ":")
	switch kind {
	case "user", "serviceAccount":
		return rest
	}
	return ""
}

// subject is a stable numeric subject for a member, as Google's are numbers.
func subject(member string) string {
	sum := sha256.Sum256([]byte(member))
	return fmt.Sprintf("1%019d", binary.BigEndian.Uint64(sum[:8])%10_000_000_000_000_000_000)
}

// tokenInfo answers the two endpoints that say who a token is: OpenID
// Connect's userinfo
// (https://developers.google.com/identity/openid-connect/openid-connect#obtaininguserprofileinformation)
// and OAuth 2.0's tokeninfo
// (https://cloud.google.com/docs/authentication/token-types#access-contents).
// The mock says test@example.com for any token; the program's actAs gate
// asks who the deploying identity is.
type tokenInfo struct{ ids *identities }

func (tokenInfo) name() string { return "token-info" }

func (r tokenInfo) handle(x *exchange, next func() *reply) *reply {
	switch {
	case (x.host == "openidconnect.googleapis.com" && x.path == "/v1/userinfo") ||
		(x.host == "www.googleapis.com" && (x.path == "/oauth2/v3/userinfo" || x.path == "/userinfo/v2/me")):
		member := r.ids.member(bearerToken(x))
		if member == "" {
			return unauthenticated(r.name(), bearerToken(x) != "")
		}
		out := map[string]any{"sub": subject(member)}
		if e := email(member); e != "" {
			out["email"], out["email_verified"] = e, true
		}
		return jsonReply(r.name(), out)
	case (x.host == "oauth2.googleapis.com" && x.path == "/tokeninfo") ||
		(x.host == "www.googleapis.com" && (x.path == "/oauth2/v3/tokeninfo" || x.path == "/oauth2/v1/tokeninfo")):
		tok := x.query.Get("access_token")
		if tok == "" && x.method == http.MethodPost {
			if form, err := url.ParseQuery(string(x.body)); err == nil {
				tok = form.Get("access_token")
			}
		}
		member := r.ids.member(tok)
		if member == "" {
			rep := jsonReply(r.name(), map[string]any{"error": "invalid_token", "error_description": "Invalid Value"})
			rep.status = http.StatusBadRequest
			return rep
		}
		sub := subject(member)
		out := map[string]any{
			"azp": sub, "aud": sub, "sub": sub,
			"scope":       "https://www.googleapis.com/auth/cloud-platform",
			"exp":         strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10),
			"expires_in":  "3599",
			"access_type": "online",
		}
		if e := email(member); e != "" {
			out["email"], out["email_verified"] = e, "true"
		}
		return jsonReply(r.name(), out)
	}
	return next()
}

// authentication refuses a request without an access token the layer
// issued, with Google's 401 UNAUTHENTICATED
// (https://cloud.google.com/apis/design/errors#handling_errors): the mock
// takes any token, and every other rule needs to know who calls.
type authentication struct{ ids *identities }

func (authentication) name() string { return "authentication" }

func (r authentication) handle(x *exchange, next func() *reply) *reply {
	tok := bearerToken(x)
	member := r.ids.member(tok)
	if member == "" {
		return unauthenticated(r.name(), tok != "")
	}
	x.caller = member
	return next()
}

// unauthenticated is Google's 401: for a token it does not know, or for
// none at all.
func unauthenticated(rule string, hadToken bool) *reply {
	msg := "Request is missing required authentication credential. " +
		"Expected OAuth 2 access token, login cookie or other valid authentication credential. " +
		"See https://developers.google.com/identity/sign-in/web/devconsole-project."
	if hadToken {
		msg = "Request had invalid authentication credentials. " +
			"Expected OAuth 2 access token, login cookie or other valid authentication credential. " +
			"See https://developers.google.com/identity/sign-in/web/devconsole-project."
	}
	rep := googleError(rule, http.StatusUnauthorized, "UNAUTHENTICATED", msg)
	rep.header.Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
	return rep
}
