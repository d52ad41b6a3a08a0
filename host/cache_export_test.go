package host

import (
	"errors"
	"os"
)

// The tests never use the user's cache directory: Discover with the zero
// DiscoverOptions finds none, as on a system without one, so that tests
// written before the cache keep their meaning (a test that counts describe
// runs). A test of the cache names its CacheDir; a helper process (a host
// a test starts) finds the directory its environment gives.
func init() {
	if os.Getenv("PLUGWIRE_TEST_CACHEHOST") == "" {
		userCacheDir = func() (string, error) {
			return "", errors.New("tests do not use the user's cache directory")
		}
	}
}
