package host

import "sync"

// registry holds every Client that may have a live process, for
// CleanupClients. It is the package's only mutable state.
var registry clientSet

// clientSet is the set of clients with a process that may be live: a
// client enters it as its start begins and leaves it once its start failed
// (the process is then reaped), its process exited after connecting, or it
// was killed. A client that never starts is never in it, so a host that
// makes clients in a loop and forgets Kill does not make it grow.
type clientSet struct {
	mu      sync.Mutex
	gen     uint64 // how many times CleanupClients has run
	clients map[*Client]struct{}
	sups    map[*Supervisor]struct{} // supervisors that started, until Kill
}

// generation is the number of CleanupClients calls so far. A client made
// before one may no longer start.
func (s *clientSet) generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// enter adds c as its start begins, unless CleanupClients ran since c was
// made: CleanupClients kills every client made before it, started or not.
func (s *clientSet) enter(c *Client) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.gen != s.gen {
		return false
	}
	if s.clients == nil {
		s.clients = make(map[*Client]struct{})
	}
	s.clients[c] = struct{}{}
	return true
}

// enterSupervisor adds sup, unless CleanupClients ran since it was made.
func (s *clientSet) enterSupervisor(sup *Supervisor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sup.gen != s.gen {
		return
	}
	if s.sups == nil {
		s.sups = make(map[*Supervisor]struct{})
	}
	s.sups[sup] = struct{}{}
}

func (s *clientSet) removeSupervisor(sup *Supervisor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sups, sup)
}

func (s *clientSet) remove(c *Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.clients, c)
}

// CleanupClients kills every client created so far and not yet killed, in
// parallel, and returns when all are gone: a plugin starting is stopped,
// and a client not started yet will not start. It ends every Supervisor
// made so far as Supervisor.Kill does. Hosts call it on their way
// out (defer it in main) so that no plugin outlives them. Clients created
// after it returns work as usual.
func CleanupClients() {
	registry.mu.Lock()
	registry.gen++
	clients := make([]*Client, 0, len(registry.clients))
	for c := range registry.clients {
		clients = append(clients, c)
	}
	sups := make([]*Supervisor, 0, len(registry.sups))
	for s := range registry.sups {
		sups = append(sups, s)
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
	for _, s := range sups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Kill()
		}()
	}
	wg.Wait()
}
