package spawn

import "strings"

// MergeEnv returns base with each KEY=VALUE of overrides replacing any
// earlier entry for KEY, so a program's getenv sees exactly one value.
func MergeEnv(base []string, overrides ...string) []string {
	out := make([]string, 0, len(base)+len(overrides))
	seen := make(map[string]int, len(base)+len(overrides))
	for _, kv := range append(base[:len(base):len(base)], overrides...) {
		key, _, _ := strings.Cut(kv, "=")
		if i, ok := seen[key]; ok {
			out[i] = kv
			continue
		}
		seen[key] = len(out)
		out = append(out, kv)
	}
	return out
}
