package cli

import (
	"flag"
	"fmt"
	"time"

	"github.com/org/nix-layer-action/internal/regclient"
	"github.com/org/nix-layer-action/internal/secrets"
)

// userAgent is sent with every registry request: the tool and its version
// ("nix-layer-action/v1.2.3"), so registry operators can tell releases apart.
func userAgent() string { return "nix-layer-action/" + Version() }

// session is what one command run shares: its secrets, a redacting log
// and the one registry client. Commands that read binary caches add the
// client of the Nix they run (substituterFor).
type session struct {
	secrets *secrets.Set
	log     *secrets.Writer // stderr, redacted
	client  *regclient.Client
}

// registryFlags are the registry options every command that talks to a
// registry takes.
type registryFlags struct {
	debug   bool
	timeout time.Duration
}

func (r *registryFlags) add(fs *flag.FlagSet) {
	fs.BoolVar(&r.debug, "debug", false, "log every registry request and response (credentials redacted)")
	fs.DurationVar(&r.timeout, "registry-timeout", regclient.DefaultTimeouts.Idle,
		"give up on a registry request that makes no progress (no response headers, no bytes moving) for this long; retried within the retry budget")
}

// newSession starts a run with GITHUB_TOKEN as its first secret (and the
// ghcr.io credential), and, with debug, a log of every registry request.
func (e Env) newSession(rf registryFlags) (*session, error) {
	token := e.Getenv("GITHUB_TOKEN")
	s := &session{secrets: secrets.New(token)}
	s.log = s.secrets.Writer(e.Stderr)
	opts := []regclient.Option{
		regclient.WithKeychain(regclient.Keychain(token)),
		regclient.WithSecrets(s.secrets),
		regclient.WithUserAgent(userAgent()),
	}
	if rf.debug {
		opts = append(opts, regclient.WithDebug(e.Stderr))
	}
	if rf.timeout > 0 {
		t := regclient.DefaultTimeouts
		t.Header, t.Idle = rf.timeout, rf.timeout
		t.Connect = min(t.Connect, rf.timeout)
		opts = append(opts, regclient.WithTimeouts(t))
	}
	c, err := regclient.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("registry client: %w", err)
	}
	s.client = c
	return s, nil
}

func (s *session) logf(format string, args ...any) { fmt.Fprintf(s.log, format+"\n", args...) }

// close flushes the log and redacts err.
func (s *session) close(err error) error {
	s.log.Flush()
	return s.secrets.Error(err)
}
