package host

import "sync"

// registry holds every Client not yet killed, for CleanupClients. It is
// the package's only mutable state.
var registry clientSet

type clientSet struct {
	mu      sync.Mutex
	clients map[*Client]struct{}
}

func (s *clientSet) add(c *Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients == nil {
		s.clients = make(map[*Client]struct{})
	}
	s.clients[c] = struct{}{}
}

func (s *clientSet) remove(c *Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.clients, c)
}

// CleanupClients kills every client created so far and not yet killed, in
// parallel, and returns when all are gone. Hosts call it on their way out
// (defer it in main) so that no plugin outlives them.
func CleanupClients() {
	registry.mu.Lock()
	clients := make([]*Client, 0, len(registry.clients))
	for c := range registry.clients {
		clients = append(clients, c)
	}
	registry.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Kill()
		}()
	}
	wg.Wait()
}
