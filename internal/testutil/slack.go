package testutil

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"sync"
	"time"
)

// SlackEnv names the environment variable that scales every bound a test
// puts on a timed promise (Kill within KillGrace + 1 s, a plugin gone
// within 2 s of its host's death): a factor, 1 when unset. A shared or
// slow runner (CI under load, Wine) raises it; the promises themselves
// (Config.KillGrace, StartTimeout) and the error texts that name them are
// never scaled.
const SlackEnv = "PLUGWIRE_TEST_SLACK"

// slack is the factor SlackEnv holds. A value that is not a finite number
// of at least 1 ends the test binary: a typo would otherwise quietly run
// the suite with bounds nobody chose.
var slack = sync.OnceValue(func() float64 {
	s, ok := os.LookupEnv(SlackEnv)
	if !ok || s == "" {
		return 1
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f < 1 {
		fmt.Fprintf(os.Stderr, "%s=%q: want a factor of at least 1 (e.g. 1.5)\n", SlackEnv, s)
		os.Exit(2)
	}
	return f
})

// Slack returns d scaled by the factor in PLUGWIRE_TEST_SLACK (see
// SlackEnv): use it for every bound a test checks a timed promise with,
// and only for those.
func Slack(d time.Duration) time.Duration {
	return time.Duration(float64(d) * slack())
}
