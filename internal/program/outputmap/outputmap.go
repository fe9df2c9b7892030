// Package outputmap builds a component's outputs from its tagged fields:
// a field tagged `pulumi:"name"` is an output, and the map it builds is
// what the component registers (RegisterResourceOutputs) and what the
// stack exports for it, so the two cannot disagree. The stack outputs'
// SDK-free description is package stackoutputs; a test holds the program's
// exports to it for every stack file.
package outputmap

import (
	"fmt"
	"reflect"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

var inputType = reflect.TypeOf((*pulumi.Input)(nil)).Elem()

// Of returns the outputs of component (a struct or a pointer to one): each
// field tagged `pulumi:"name"` under its name. A field is a Pulumi input or
// output, a string, an int, or a map from names to structs whose tagged
// fields are outputs in turn. Any other tagged field is a programming
// error, and Of panics naming it.
func Of(component any) pulumi.Map {
	return of(reflect.Indirect(reflect.ValueOf(component)))
}

func of(v reflect.Value) pulumi.Map {
	out := pulumi.Map{}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("pulumi")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out[name] = value(t.Name()+"."+f.Name, v.Field(i))
	}
	return out
}

func value(where string, v reflect.Value) pulumi.Input {
	switch {
	case v.Type().Implements(inputType):
		if k := v.Kind(); (k == reflect.Interface || k == reflect.Pointer) && v.IsNil() || k == reflect.Struct && v.IsZero() {
			panic(fmt.Sprintf("outputmap: %s is not set", where))
		}
		return v.Interface().(pulumi.Input)
	case v.Kind() == reflect.String:
		return pulumi.String(v.String())
	case v.Kind() == reflect.Int:
		return pulumi.Int(int(v.Int()))
	case v.Kind() == reflect.Map && v.Type().Key().Kind() == reflect.String && v.Type().Elem().Kind() == reflect.Struct:
		m := pulumi.Map{}
		for it := v.MapRange(); it.Next(); {
			m[it.Key().String()] = of(it.Value())
		}
		return m
	}
	panic(fmt.Sprintf("outputmap: %s has type %s, which is not an output", where, v.Type()))
}
