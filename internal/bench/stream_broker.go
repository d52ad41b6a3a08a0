package bench

import (
	"fmt"
	"io"
	"net/rpc"

	"github.com/hashicorp/go-plugin"
)

// The yamux floor of the stream benchmarks: a bare MuxBroker stream of the
// same connection the contract's streams use, with no framing, no
// contract call around it: what the contract's stream code adds is the
// difference between this and the contract.

// brokerPlugin serves Upload (read a broker stream to its end) and
// Download (write n bytes on one) over go-plugin's net/rpc.
type brokerPlugin struct{}

func (brokerPlugin) Server(b *plugin.MuxBroker) (any, error) { return &brokerServer{b}, nil }

func (brokerPlugin) Client(b *plugin.MuxBroker, c *rpc.Client) (any, error) {
	return &BrokerStreams{b: b, c: c}, nil
}

type brokerServer struct{ b *plugin.MuxBroker }

// BrokerArgs name the broker stream and, for a download, its size.
type BrokerArgs struct {
	ID   uint32
	Size int64
}

func (s *brokerServer) Upload(a BrokerArgs, n *int64) error {
	conn, err := s.b.Accept(a.ID)
	if err != nil {
		return err
	}
	defer conn.Close()
	*n, err = io.CopyBuffer(&Sink{}, onlyReader{conn}, make([]byte, CopyBuf))
	return err
}

func (s *brokerServer) Download(a BrokerArgs, n *int64) error {
	conn, err := s.b.Accept(a.ID)
	if err != nil {
		return err
	}
	defer conn.Close()
	*n, err = io.CopyBuffer(onlyWriter{conn}, NewSource(a.Size), make([]byte, CopyBuf))
	return err
}

// BrokerStreams is the host's side of brokerPlugin.
type BrokerStreams struct {
	b *plugin.MuxBroker
	c *rpc.Client
}

// copy dials a new broker stream while the plugin's method accepts it,
// and runs move on it.
func (s *BrokerStreams) copy(method string, size int64, move func(io.ReadWriteCloser) (int64, error)) (int64, error) {
	id := s.b.NextId()
	var n int64
	call := s.c.Go("Plugin."+method, BrokerArgs{ID: id, Size: size}, &n, nil)
	conn, err := s.b.Dial(id)
	if err != nil {
		<-call.Done
		return 0, err
	}
	moved, err := move(conn)
	_ = conn.Close()
	<-call.Done
	if err == nil {
		err = call.Error
	}
	if err == nil && n != moved {
		err = fmt.Errorf("broker %s: plugin counted %d, host %d", method, n, moved)
	}
	return moved, err
}

// BrokerUpload sends size bytes on a bare broker stream.
func BrokerUpload(p *StreamPlugin, size int64) (StreamResult, error) {
	return measure(p.Pid, size, func() (int64, error) {
		return p.Broker.copy("Upload", size, func(conn io.ReadWriteCloser) (int64, error) {
			n, err := io.CopyBuffer(onlyWriter{conn}, NewSource(size), make([]byte, CopyBuf))
			if cw, ok := conn.(interface{ CloseWrite() error }); ok && err == nil {
				err = cw.CloseWrite()
			} else if err == nil {
				err = conn.Close()
			}
			return n, err
		})
	})
}

// BrokerDownload reads size bytes from a bare broker stream.
func BrokerDownload(p *StreamPlugin, size int64) (StreamResult, error) {
	return measure(p.Pid, size, func() (int64, error) {
		return p.Broker.copy("Download", size, func(conn io.ReadWriteCloser) (int64, error) {
			var s Sink
			_, err := io.CopyBuffer(&s, onlyReader{conn}, make([]byte, CopyBuf))
			return s.N, err
		})
	})
}
