package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/mxfwd/mxfwd/ipc"
)

func (a *app) ipcCmd() *cobra.Command {
	c := &cobra.Command{Use: "ipc", Short: "IPC tools"}
	var (
		hexStr, pcapPath string
		port             uint16
	)
	dec := &cobra.Command{
		Use:   "decode (--hex HEX | -r FILE.pcap)",
		Short: "Decode IPC frames from hex or from a pcap capture of TCP port 6234",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			switch {
			case hexStr != "" && pcapPath != "":
				return fmt.Errorf("give either --hex or -r, not both")
			case hexStr != "":
				b, err := ipc.DecodeHex(hexStr)
				if err != nil {
					return err
				}
				frames, err := ipc.DecodeFrames(b, ipc.DefaultLimits())
				if err != nil {
					return err
				}
				for _, msgs := range frames {
					ipc.FormatFrame(out, msgs)
				}
				return nil
			case pcapPath != "":
				f, err := os.Open(pcapPath)
				if err != nil {
					return err
				}
				defer f.Close()
				var firstErr error
				err = ipc.DecodePcap(f, port, func(meta ipc.PcapMeta, msgs []ipc.Message, derr error) {
					fmt.Fprintln(out, meta.String())
					if derr != nil {
						fmt.Fprintf(out, "        error: %v\n", derr)
						if firstErr == nil {
							firstErr = derr
						}
						return
					}
					ipc.FormatFrame(out, msgs)
				})
				if err != nil {
					return err
				}
				return firstErr
			}
			return fmt.Errorf("give --hex HEX or -r FILE.pcap")
		},
	}
	dec.Flags().StringVar(&hexStr, "hex", "", "frame bytes in hex (spaces allowed, as in seed 003)")
	dec.Flags().StringVarP(&pcapPath, "read", "r", "", "pcap or pcapng file")
	dec.Flags().Uint16Var(&port, "port", 6234, "IPC TCP port in the capture")
	c.AddCommand(dec)
	return c
}
