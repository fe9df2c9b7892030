package teststack

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Metadata keys. The same names are used as stack tags and as configuration
// keys: tags are the primary record (the backend keeps them with the stack,
// so a fresh checkout reads them back), the configuration keys are the
// fallback for backends or CLIs without stack tags (every update stores the
// configuration with the deployment, where `pulumi config refresh` finds it).
const (
	KeyCreated = "teststack:created"
	// KeyUpdated is the time of the last `teststack up`: a stack's TTL runs
	// from it, so a stack in use is never swept.
	KeyUpdated  = "teststack:updated"
	KeyTTL      = "teststack:ttl"
	KeyOwner    = "teststack:owner"
	KeyTemplate = "teststack:template"
	// TagSuffix records the name suffix as a tag; in the configuration the
	// suffix lives under the program's own key (Manager.SuffixKey).
	TagSuffix = "teststack:nameSuffix"
)

// DefaultTTL is the time-to-live recorded when `up` creates a stack without --ttl.
const DefaultTTL = 24 * time.Hour

// MaxTTL bounds --ttl: a test stack is never meant to live for months.
const MaxTTL = 30 * 24 * time.Hour

// Meta is what teststack records about a test stack.
type Meta struct {
	Created time.Time
	// Updated is the time of the last up (zero in records written before
	// teststack recorded it: the creation time stands in).
	Updated  time.Time
	TTL      time.Duration
	Owner    string
	Template string
	Suffix   string
	// From says where the record was read: "tags" or "config".
	From string
}

// Age is how long ago the stack was created.
func (m Meta) Age(now time.Time) time.Duration { return now.Sub(m.Created) }

// LastUp is when the stack was last deployed by `teststack up`: Updated,
// or Created for a record without it.
func (m Meta) LastUp() time.Time {
	if m.Updated.IsZero() {
		return m.Created
	}
	return m.Updated
}

// Idle is how long ago the stack was last deployed.
func (m Meta) Idle(now time.Time) time.Duration { return now.Sub(m.LastUp()) }

// Limit is the idle time after which the stack expires: its own recorded
// TTL, or noTTL for a record without one (zero: never).
func (m Meta) Limit(noTTL time.Duration) time.Duration {
	if m.TTL > 0 {
		return m.TTL
	}
	return noTTL
}

// Expired reports whether the stack has gone its TTL without an up (noTTL
// stands in for a record without a TTL). A recorded TTL always wins, so a
// stack created with --ttl 72h, or one still being updated, stays.
func (m Meta) Expired(now time.Time, noTTL time.Duration) bool {
	limit := m.Limit(noTTL)
	return limit > 0 && m.Idle(now) >= limit
}

// tags renders the record as stack tags.
func (m Meta) tags() map[string]string {
	t := map[string]string{
		KeyCreated:  m.Created.UTC().Format(time.RFC3339),
		KeyUpdated:  m.LastUp().UTC().Format(time.RFC3339),
		KeyTTL:      m.TTL.String(),
		KeyTemplate: m.Template,
		TagSuffix:   m.Suffix,
	}
	if m.Owner != "" {
		t[KeyOwner] = m.Owner
	}
	return t
}

// config renders the record as configuration values (the suffix is written
// separately under the program's key).
func (m Meta) config() map[string]string {
	c := map[string]string{
		KeyCreated:  m.Created.UTC().Format(time.RFC3339),
		KeyUpdated:  m.LastUp().UTC().Format(time.RFC3339),
		KeyTTL:      m.TTL.String(),
		KeyTemplate: m.Template,
	}
	if m.Owner != "" {
		c[KeyOwner] = m.Owner
	}
	return c
}

// errNoMeta means the values carry no test-stack record at all.
var errNoMeta = errors.New("no teststack metadata")

// parseMeta reads a record from tag or configuration values. suffix is the
// name suffix found alongside (tag or program configuration).
func parseMeta(values map[string]string, suffix, from string) (Meta, error) {
	created, ok := values[KeyCreated]
	if !ok || created == "" {
		return Meta{}, errNoMeta
	}
	m := Meta{Owner: values[KeyOwner], Template: values[KeyTemplate], Suffix: suffix, From: from}
	t, err := time.Parse(time.RFC3339, created)
	if err != nil {
		return Meta{}, fmt.Errorf("%s %s = %q: not an RFC 3339 time", from, KeyCreated, created)
	}
	m.Created = t.UTC()
	if updated := values[KeyUpdated]; updated != "" {
		u, err := time.Parse(time.RFC3339, updated)
		if err != nil {
			return Meta{}, fmt.Errorf("%s %s = %q: not an RFC 3339 time", from, KeyUpdated, updated)
		}
		m.Updated = u.UTC()
	}
	if ttl := values[KeyTTL]; ttl != "" {
		d, err := time.ParseDuration(ttl)
		if err != nil || d <= 0 {
			return Meta{}, fmt.Errorf("%s %s = %q: not a positive duration", from, KeyTTL, ttl)
		}
		m.TTL = d
	}
	return m, nil
}

// Stack names as the Pulumi service accepts them; a name may be qualified
// as org/stack or org/project/stack.
var stackNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)

// shortName is the last segment of a possibly qualified stack name: the one
// in Pulumi.<stack>.yaml and the one prefixes and protection apply to.
func shortName(name string) string {
	if i := strings.LastIndex(name, "/"); i >= 0 {
		return name[i+1:]
	}
	return name
}

// ValidateName checks a test stack name: a valid stack name that is not
// protected.
func ValidateName(name string, protected []string) error {
	parts := strings.Split(name, "/")
	if len(parts) > 3 {
		return fmt.Errorf("stack name %q: at most org/project/stack", name)
	}
	for _, p := range parts {
		if !stackNameRE.MatchString(p) {
			return fmt.Errorf("stack name %q: each part must be 1-100 letters, digits, '-', '_' or '.'", name)
		}
	}
	short := shortName(name)
	for _, p := range protected {
		if strings.EqualFold(short, p) {
			return fmt.Errorf("stack %q is protected: teststack never creates, changes or destroys it", name)
		}
	}
	return nil
}

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*[-_.]$`)

// ValidatePrefix checks a sweep prefix. It must be at least two characters,
// end with a separator ('-', '_' or '.') and match no protected name, so
// that "", "d" or "p" can never select dev or prod even if they carried
// test metadata.
func ValidatePrefix(prefix string, protected []string) error {
	if !prefixRE.MatchString(prefix) {
		return fmt.Errorf("prefix %q: must be 2 or more letters, digits, '-', '_' or '.', ending with '-', '_' or '.' (e.g. pr-)", prefix)
	}
	for _, p := range protected {
		if strings.HasPrefix(strings.ToLower(p), strings.ToLower(prefix)) {
			return fmt.Errorf("prefix %q matches the protected stack %q", prefix, p)
		}
	}
	return nil
}

// ValidateTTL checks a --ttl value; zero means "not given".
func ValidateTTL(ttl time.Duration) error {
	if ttl < 0 || (ttl > 0 && ttl < time.Minute) || ttl > MaxTTL {
		return fmt.Errorf("ttl %s: must be between 1m and %s", ttl, MaxTTL)
	}
	return nil
}

var ownerRE = regexp.MustCompile(`^[^\x00-\x1f\x7f]{0,200}$`)

// ValidateOwner checks an owner string: printable, short enough for a tag.
func ValidateOwner(owner string) error {
	if !ownerRE.MatchString(owner) {
		return fmt.Errorf("owner %q: at most 200 printable characters", owner)
	}
	return nil
}
