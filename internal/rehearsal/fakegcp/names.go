package fakegcp

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strings"
)

// ProjectNumber is the fake project number of a project ID: 12 digits,
// deterministic (FNV-1a of the ID), never starting with 0.
func ProjectNumber(projectID string) string {
	h := fnv.New64a()
	h.Write([]byte(projectID))
	return fmt.Sprintf("%d", 100_000_000_000+h.Sum64()%900_000_000_000)
}

// CloudRunURI is the URL Cloud Run gives service name in region of project,
// in Google's https://<service>-<project hash>-<region code>.a.run.app form.
func CloudRunURI(project, region, name string) string {
	return fmt.Sprintf("https://%s-%s-%s.a.run.app", name, letters(project, 10), regionCode(region))
}

// regionCode abbreviates a region as Cloud Run does in its URLs
// (asia-northeast1 → an, us-central1 → uc).
func regionCode(region string) string {
	code := ""
	for _, p := range strings.Split(region, "-") {
		if p != "" {
			code += p[:1]
		}
	}
	return code
}

// letters returns n deterministic lowercase letters derived from seed.
func letters(seed string, n int) string {
	sum := sha256.Sum256([]byte(seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + sum[i%len(sum)]%26
	}
	return string(b)
}

// digits returns a deterministic decimal number of n digits (first non-zero).
func digits(seed string, n int) string {
	sum := sha256.Sum256([]byte(seed))
	var sb strings.Builder
	for i := 0; sb.Len() < n; i++ {
		v := binary.BigEndian.Uint64(sha256Sum(fmt.Sprintf("%x/%d", sum, i))[:8])
		fmt.Fprintf(&sb, "%019d", v%10_000_000_000_000_000_000)
	}
	s := sb.String()[:n]
	if s[0] == '0' {
		s = "1" + s[1:]
	}
	return s
}

func sha256Sum(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// uuid returns a deterministic version-4-shaped UUID.
func uuid(seed string) string {
	h := hex.EncodeToString(sha256Sum(seed))
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

// etag is a deterministic IAM policy etag in Google's base64-ish shape.
func etag(seed string) string {
	return "BwY" + letters(seed, 9)
}

// lastSegment returns the part after the last "/" (a short name from a
// resource path, or the name itself).
func lastSegment(s string) string {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[i+1:]
	}
	return s
}
