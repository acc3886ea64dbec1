// Command protogen is a tiny stand-in for `protoc` used by build.sh: it
// compiles .proto files with the pure-Go compiler github.com/bufbuild/protocompile
// and runs protoc plugins (protoc-gen-go, protoc-gen-go-grpc,
// protoc-gen-grpc-gateway, ...) on the result through the standard plugin
// protocol (a CodeGeneratorRequest on stdin, a CodeGeneratorResponse on
// stdout), writing the files they return.
//
//	protogen -I DIR [-I DIR...] -out DIR -plugin PATH[=PARAM] [-plugin ...] FILE.proto...
//
// FILE names are relative to an -I directory, as with protoc. The standard
// google/protobuf/*.proto imports are built in.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	var includes, plugins listFlag
	flag.Var(&includes, "I", "import directory (repeatable)")
	flag.Var(&plugins, "plugin", "protoc plugin executable, optionally =PARAMETER (repeatable)")
	out := flag.String("out", ".", "output directory for generated files")
	flag.Parse()
	files := flag.Args()
	if len(files) == 0 || len(plugins) == 0 {
		fail("usage: protogen -I DIR -out DIR -plugin PATH[=PARAM]... FILE.proto...")
	}

	compiler := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			ImportPaths: includes,
		}),
		// Comments are kept so that generated code carries them.
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	compiled, err := compiler.Compile(context.Background(), files...)
	if err != nil {
		fail("compile: %v", err)
	}

	// The request lists every file the generated ones depend on, each after
	// its own imports (what protoc sends).
	var all []*descriptorpb.FileDescriptorProto
	seen := map[string]bool{}
	var visit func(fd protoreflect.FileDescriptor)
	visit = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := 0; i < imports.Len(); i++ {
			visit(imports.Get(i).FileDescriptor)
		}
		all = append(all, protodesc.ToFileDescriptorProto(fd))
	}
	for _, f := range compiled {
		visit(f)
	}

	for _, spec := range plugins {
		path, param, _ := strings.Cut(spec, "=")
		req := &pluginpb.CodeGeneratorRequest{
			FileToGenerate: files,
			ProtoFile:      all,
		}
		if param != "" {
			req.Parameter = proto.String(param)
		}
		if err := runPlugin(path, req, *out); err != nil {
			fail("%s: %v", filepath.Base(path), err)
		}
	}
}

func runPlugin(path string, req *pluginpb.CodeGeneratorRequest, outDir string) error {
	in, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	var stdout bytes.Buffer
	cmd := exec.Command(path)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return err
	}
	resp := &pluginpb.CodeGeneratorResponse{}
	if err := proto.Unmarshal(stdout.Bytes(), resp); err != nil {
		return fmt.Errorf("bad response: %v", err)
	}
	if resp.Error != nil {
		return fmt.Errorf("%s", resp.GetError())
	}
	for _, f := range resp.File {
		if f.GetInsertionPoint() != "" {
			return fmt.Errorf("insertion points are not supported (%s)", f.GetName())
		}
		name := filepath.Clean(f.GetName())
		if filepath.IsAbs(name) || strings.HasPrefix(name, "..") {
			return fmt.Errorf("refusing to write %q outside the output directory", f.GetName())
		}
		dst := filepath.Join(outDir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, []byte(f.GetContent()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "protogen: "+format+"\n", args...)
	os.Exit(1)
}
