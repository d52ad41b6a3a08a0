package config_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/plugwire/plugwire/shared/config"
)

// A builder's Prepare decodes its config into its own struct.
func ExampleDecode() {
	type settings struct {
		DiskSize int           `json:"disk_size"`
		Timeout  time.Duration `json:"timeout"`
		Regions  []string      `json:"regions"`
	}
	// What Prepare receives for a template's builder block.
	var raw any
	_ = json.Unmarshal([]byte(`{"disk_size": 20, "timeout": "90s", "regions": ["eu"]}`), &raw)

	c := settings{DiskSize: 10} // defaults first
	if err := config.Decode(raw, &c); err != nil {
		fmt.Println(err)
	}
	fmt.Printf("%d %v %v\n", c.DiskSize, c.Timeout, c.Regions)

	_ = json.Unmarshal([]byte(`{"disk_size": "20G", "timout": "90s"}`), &raw)
	fmt.Println(config.Decode(raw, &c))
	// Output:
	// 20 1m30s [eu]
	// disk_size: want number, got "20G"; timout: unknown key (did you mean "timeout"?)
}
