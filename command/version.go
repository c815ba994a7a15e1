package command

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// version is the release name make build and make release stamp in with
// -ldflags "-X github.com/pmux/pmux/command.version=v1.2.3". It stays empty in a binary from
// go install or a plain go build, whose build info names the version.
var version string

// pmuxVersion is the version pmux reports: the stamped one, else the
// module version of the build info (v1.2.3 from go install …@v1.2.3, a
// pseudo-version from go build in a git checkout), else "(devel)".
func pmuxVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// versionLine is what pmux version prints: the version, then what the
// build info knows of the source and the toolchain, as in
// "pmux v1.2.3 (revision 0123…, 2025-01-02T03:04:05Z, modified; go1.26.8 linux/amd64)".
func versionLine() string {
	var source []string
	if bi, ok := debug.ReadBuildInfo(); ok {
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if rev := settings["vcs.revision"]; rev != "" {
			source = append(source, "revision "+rev)
		}
		if t := settings["vcs.time"]; t != "" {
			source = append(source, t)
		}
		if settings["vcs.modified"] == "true" {
			source = append(source, "modified")
		}
	}
	build := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if len(source) > 0 {
		build = strings.Join(source, ", ") + "; " + build
	}
	return "pmux " + pmuxVersion() + " (" + build + ")"
}
