package host_test

// The "set" helper, in a file of its own because helper_test.go, which runs
// on every OS, calls it; discover_test.go wraps it in shell scripts (Unix).

import (
	"os"
	"strings"

	"github.com/plugwire/plugwire"
	"github.com/plugwire/plugwire/shared"
)

// Environment variables of the "set" helper.
const (
	envSet        = "PLUGWIRE_TEST_SET"        // components, comma separated: "builder/a,command/b,builder"
	envSetVersion = "PLUGWIRE_TEST_SETVERSION" // the set's version; none when empty
	envSetMarker  = "PLUGWIRE_TEST_SETMARKER"  // a file the helper creates when it runs
)

// setHelper serves the set envSet describes.
func setHelper() int {
	if m := os.Getenv(envSetMarker); m != "" {
		if err := os.WriteFile(m, nil, 0o600); err != nil {
			return 2
		}
	}
	s := plugwire.NewSet()
	if v := os.Getenv(envSetVersion); v != "" {
		s.Version = v
	}
	for _, id := range strings.Split(os.Getenv(envSet), ",") {
		kind, name, _ := strings.Cut(id, "/")
		switch kind {
		case shared.BuilderPluginName:
			s.RegisterBuilder(name, &testBuilder{})
		case shared.CommandPluginName:
			s.RegisterCommand(name, testCommand{})
		default:
			s.Register(kind, name, &shared.BuilderPlugin{Impl: &testBuilder{}})
		}
	}
	s.Run()
	return 0
}
