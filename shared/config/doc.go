// Package config decodes a plugin's configuration: Decode turns the
// JSON-shaped value shared.Builder.Prepare receives (a template's block
// for that builder, or whatever config a contract of one's own carries)
// into the plugin's own Go struct.
//
// Decode is strict where encoding/json is lenient, because a config is
// written by a person: a key that matches no field, a number that does
// not fit its field, or a duration without a unit is an error. Every
// problem is reported at once, each as an Error naming its key path, in
// one Errors whose text is one line a host can show its user as it is:
//
//	disk_size: want number, got "20G"; timout: unknown key (did you mean "timeout"?)
//
// The contracts themselves are in package shared; this package is what
// their implementations call.
package config
