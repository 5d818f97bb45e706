package switchyard

import (
	"bytes"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// Load reads a Config from a YAML or JSON file (JSON is YAML). Durations are
// strings such as "30s". Unknown fields are errors, so a typo never silently
// falls back to a default. Keys are best given as secret_env or left to the
// environment.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("switchyard: config: %w", err)
	}
	return Parse(b)
}

// Parse reads a Config from YAML or JSON bytes.
func Parse(b []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("switchyard: config: %w", err)
	}
	return c, nil
}
