package host

// Registered reports whether c is in the registry behind CleanupClients.
func Registered(c *Client) bool {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	_, ok := registry.clients[c]
	return ok
}
