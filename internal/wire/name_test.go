package wire

import "testing"

// One rule on every OS: the base name without a final ".exe", in any case.
func TestBinaryName(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"plugin-demo", "plugin-demo"},
		{"/opt/plugins/plugin-demo", "plugin-demo"},
		{"plugin-demo.exe", "plugin-demo"},
		{"dir/plugin-demo.EXE", "plugin-demo"},
		{"plugin-demo_v1.2.0.exe", "plugin-demo_v1.2.0"},
		{"plugin-demo.exe.txt", "plugin-demo.exe.txt"},
		{"plugin.exe.exe", "plugin.exe"},
		{".exe", ".exe"},
	} {
		if got := BinaryName(tc.path); got != tc.want {
			t.Errorf("BinaryName(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}
