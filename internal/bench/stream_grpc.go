package bench

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/examples/streaming/proto"
	"google.golang.org/grpc"
)

// The gRPC peer of the stream benchmarks: stock go-plugin serving the
// service of its own streaming example (examples/streaming/proto, its
// generated code) over gRPC, on go-plugin's transport (a Unix socket on
// Linux and macOS), with the same source, sink and chunk size.

// KindGRPCStream is the helper serving the gRPC streamer.
const KindGRPCStream Kind = "grpcstream"

type grpcStreamPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (grpcStreamPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	proto.RegisterStreamerServiceServer(s, &grpcStreamer{})
	return nil
}

func (grpcStreamPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return proto.NewStreamerServiceClient(c), nil
}

// grpcStreamer counts what Write receives and sends the number of bytes
// Configure's path names from Read.
type grpcStreamer struct {
	proto.UnimplementedStreamerServiceServer
	mu   sync.Mutex
	size int64
}

func (s *grpcStreamer) Configure(_ context.Context, req *proto.Configure_Request) (*proto.Configure_Response, error) {
	size, err := strconv.ParseInt(req.Path, 10, 64)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.size = size
	s.mu.Unlock()
	return &proto.Configure_Response{}, nil
}

func (s *grpcStreamer) Read(_ *proto.Read_Request, srv proto.StreamerService_ReadServer) error {
	s.mu.Lock()
	src := NewSource(s.size)
	s.mu.Unlock()
	buf := make([]byte, CopyBuf)
	for {
		n, err := src.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err := srv.Send(&proto.Read_ResponseChunk{ReadBytes: buf[:n]}); err != nil {
			return err
		}
	}
}

func (s *grpcStreamer) Write(srv proto.StreamerService_WriteServer) error {
	var sink Sink
	for {
		chunk, err := srv.Recv()
		if err == io.EOF {
			return srv.SendAndClose(&proto.Write_Response{})
		}
		if err != nil {
			return err
		}
		_, _ = sink.Write(chunk.BytesToWrite)
	}
}

func serveGRPCStream() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins:         map[string]plugin.Plugin{"streamer": grpcStreamPlugin{}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}

// GRPCStream is the gRPC helper as its host holds it.
type GRPCStream struct {
	Client proto.StreamerServiceClient
	Pid    int
	client *plugin.Client
}

// Kill ends the plugin.
func (g *GRPCStream) Kill() { g.client.Kill() }

// StartGRPCStream starts the gRPC helper with stock go-plugin.
func StartGRPCStream(o Options) (*GRPCStream, error) {
	cmd, err := helperCmd(Stock, KindGRPCStream, o, false)
	if err != nil {
		return nil, err
	}
	c := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshake,
		Plugins:          map[string]plugin.Plugin{"streamer": grpcStreamPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     o.startTimeout(),
		Logger:           hclog.NewNullLogger(),
	})
	rc, err := c.Client()
	if err == nil {
		var raw any
		if raw, err = rc.Dispense("streamer"); err == nil {
			g := &GRPCStream{Client: raw.(proto.StreamerServiceClient), client: c}
			if rcfg := c.ReattachConfig(); rcfg != nil {
				g.Pid = rcfg.Pid
			}
			return g, nil
		}
	}
	c.Kill()
	return nil, fmt.Errorf("bench: gRPC stream plugin: %w", err)
}

// GRPCUpload streams size bytes to the plugin in CopyBuf chunks.
func GRPCUpload(g *GRPCStream, size int64) (StreamResult, error) {
	return measure(g.Pid, size, func() (int64, error) {
		ws, err := g.Client.Write(context.Background())
		if err != nil {
			return 0, err
		}
		src, buf := NewSource(size), make([]byte, CopyBuf)
		var sent int64
		for {
			n, rerr := src.Read(buf)
			if rerr == io.EOF {
				break
			}
			if err := ws.Send(&proto.Write_RequestChunk{BytesToWrite: buf[:n]}); err != nil {
				return sent, err
			}
			sent += int64(n)
		}
		_, err = ws.CloseAndRecv()
		return sent, err
	})
}

// GRPCDownload streams size bytes from the plugin.
func GRPCDownload(g *GRPCStream, size int64) (StreamResult, error) {
	ctx := context.Background()
	if _, err := g.Client.Configure(ctx, &proto.Configure_Request{Path: strconv.FormatInt(size, 10), ChunkSize: CopyBuf}); err != nil {
		return StreamResult{}, err
	}
	return measure(g.Pid, size, func() (int64, error) {
		rs, err := g.Client.Read(ctx, &proto.Read_Request{})
		if err != nil {
			return 0, err
		}
		var sink Sink
		for {
			chunk, err := rs.Recv()
			if err == io.EOF {
				return sink.N, nil
			}
			if err != nil {
				return sink.N, err
			}
			_, _ = sink.Write(chunk.ReadBytes)
		}
	})
}
