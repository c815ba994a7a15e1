package integration_test

import (
	"os"
	"testing"

	"github.com/pmux/pmux/internal/pmuxtest"
)

func TestMain(m *testing.M) {
	os.Exit(pmuxtest.Main(m))
}
