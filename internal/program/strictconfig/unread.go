package strictconfig

import (
	"reflect"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Unread is the set of an object's keys whose values could not be decoded
// (or were not known): they hold their defaults, and their decode error
// says what is wrong with them. A configuration struct whose rules read a
// key that may fail to decode has a field of this type, tagged json:"-";
// Decode fills it, and the rules that read an unread key do not run (the
// Kubernetes order: what did not decode is not validated), so no error is
// ever produced about a value that was not read, nor about a correct key
// compared with it.
type Unread map[string]bool

// Any reports whether any of keys is unread.
func (u Unread) Any(keys ...string) bool {
	for _, k := range keys {
		if u[k] {
			return true
		}
	}
	return false
}

var unreadType = reflect.TypeOf(Unread(nil))

// markUnread records every error of errs, each at a key path under the
// namespace key name of root (a pointer to the namespace's struct), in
// the Unread field of the struct that holds the key the error is at:
// errors inside a list or a map mark the key holding the list or map.
func markUnread(root reflect.Value, name string, errs field.ErrorList) {
	for _, e := range errs {
		_, rest, _ := strings.Cut(e.Field, ":")
		segs := splitPath(rest)
		if len(segs) == 0 || segs[0] != name {
			continue
		}
		mark(root.Elem(), segs)
	}
}

// mark walks v (a struct) along segs (field names, list indexes and map
// keys) and marks the last key it can reach in the struct that holds it.
func mark(v reflect.Value, segs []string) {
	owner, key := v, segs[0]
	cur, ok := fieldByJSON(v, segs[0])
	for _, seg := range segs[1:] {
		if !ok {
			break
		}
		for cur.Kind() == reflect.Pointer {
			if cur.IsNil() {
				ok = false
				break
			}
			cur = cur.Elem()
		}
		if !ok {
			break
		}
		switch cur.Kind() {
		case reflect.Struct:
			owner, key = cur, seg
			cur, ok = fieldByJSON(cur, seg)
		case reflect.Slice:
			i, err := strconv.Atoi(seg)
			if ok = err == nil && i >= 0 && i < cur.Len(); ok {
				cur = cur.Index(i)
			}
		default:
			// A map's entries are not addressable: the error marks the map.
			ok = false
		}
	}
	setUnread(owner, key)
}

func setUnread(owner reflect.Value, key string) {
	for i := range owner.NumField() {
		f := owner.Field(i)
		if owner.Type().Field(i).Type != unreadType || !f.CanSet() {
			continue
		}
		if f.IsNil() {
			f.Set(reflect.MakeMap(unreadType))
		}
		f.SetMapIndex(reflect.ValueOf(key), reflect.ValueOf(true))
	}
}

// fieldByJSON is the field of struct v whose json name is name.
func fieldByJSON(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if tag == name && t.Field(i).IsExported() {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// Within reports whether key path p is q or lies under it: "a.b[0].c" is
// within "a.b", "a.b[0]" and itself, not within "a.bc".
func Within(p, q string) bool {
	return p == q || strings.HasPrefix(p, q+".") || strings.HasPrefix(p, q+"[")
}

// splitPath splits a key path such as "queues[0].retry.minBackoff" into
// its keys, indexes and map keys: queues, 0, retry, minBackoff.
func splitPath(p string) []string {
	var segs []string
	for p != "" {
		switch p[0] {
		case '.':
			p = p[1:]
		case '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return append(segs, p[1:])
			}
			segs = append(segs, p[1:end])
			p = p[end+1:]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				return append(segs, p)
			}
			segs = append(segs, p[:end])
			p = p[end:]
		}
	}
	return segs
}
