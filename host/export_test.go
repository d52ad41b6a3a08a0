package host

import "context"

// Registered reports whether c is in the registry behind CleanupClients.
func Registered(c *Client) bool {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	_, ok := registry.clients[c]
	return ok
}

// DiscoverAs is Discover with the file naming of goos ("windows"), for
// testing Windows names on any system.
func DiscoverAs(ctx context.Context, goos string, o DiscoverOptions, prefix string, dirs ...string) (*Catalog, error) {
	o.goos = goos
	return o.Discover(ctx, prefix, dirs...)
}
