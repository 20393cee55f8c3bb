package cli

import (
	"fmt"

	"github.com/org/nix-layer-action/internal/regclient"
	"github.com/org/nix-layer-action/internal/secrets"
)

// userAgent is sent with every registry request.
const userAgent = "nix-layer-action"

// session is what one command run shares: its secrets, a redacting log
// and the one registry client.
type session struct {
	secrets *secrets.Set
	log     *secrets.Writer // stderr, redacted
	client  *regclient.Client
}

// newSession starts a run with GITHUB_TOKEN as its first secret (and the
// ghcr.io credential), and, with debug, a log of every registry request.
func (e Env) newSession(debug bool) (*session, error) {
	token := e.Getenv("GITHUB_TOKEN")
	s := &session{secrets: secrets.New(token)}
	s.log = s.secrets.Writer(e.Stderr)
	opts := []regclient.Option{
		regclient.WithKeychain(regclient.Keychain(token)),
		regclient.WithSecrets(s.secrets),
		regclient.WithUserAgent(userAgent),
	}
	if debug {
		opts = append(opts, regclient.WithDebug(e.Stderr))
	}
	c, err := regclient.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("registry client: %w", err)
	}
	s.client = c
	return s, nil
}

// close flushes the log and redacts err.
func (s *session) close(err error) error {
	s.log.Flush()
	return s.secrets.Error(err)
}
