package framedrop

import (
	"bytes"
	"io"
	"net"
	"sync"
)

// Proxy forwards TCP connections from a loopback port to one address.
// While cut, it holds what clients send (delivered in order on Heal, as
// TCP does across a partition that heals in time) and drops, in whole
// HTTP/2 frames, what the server sends: the connections stay sound and
// nothing errors, but the server's messages of that time are lost. Each
// connection has a Dropper of its own, so several connections may share
// the proxy.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	open  chan struct{} // closed while not cut
	drops []*Dropper
	conns []net.Conn
	wg    sync.WaitGroup
}

// Listen starts a proxy to target on a free loopback port.
func Listen(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, open: make(chan struct{})}
	close(p.open)
	p.wg.Go(p.accept)
	return p, nil
}

// Addr is the proxy's address (host:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut starts holding what clients send and dropping what the server sends.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default:
	}
	for _, d := range p.drops {
		d.Drop()
	}
}

// Heal delivers what was held and forwards everything again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.drops {
		d.Pass()
	}
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

// Dropped returns what the server sent and the proxy dropped since the
// last Cut, every connection's in turn.
func (p *Proxy) Dropped() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var all [][]byte
	for _, d := range p.drops {
		all = append(all, d.Dropped())
	}
	return bytes.Join(all, nil)
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	open := p.open
	p.mu.Unlock()
	select {
	case <-open:
	default:
		p.Heal() // release the held copies so they see the closed connections
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		d := New()
		p.mu.Lock()
		select {
		case <-p.open:
		default:
			d.Drop()
		}
		p.drops = append(p.drops, d)
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Go(func() { p.copy(out, in, nil); _ = out.Close(); _ = in.Close() })
		p.wg.Go(func() { p.copy(in, out, d); _ = in.Close(); _ = out.Close() })
	}
}

// copy forwards src to dst: through d when it is set (server to client),
// otherwise waiting while the proxy is cut (client to server).
func (p *Proxy) copy(dst io.Writer, src io.Reader, d *Dropper) {
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			data := buf[:n]
			if d != nil {
				data = d.Modify(data)
			} else {
				p.mu.Lock()
				open := p.open
				p.mu.Unlock()
				<-open
			}
			if len(data) > 0 {
				if _, werr := dst.Write(data); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}
