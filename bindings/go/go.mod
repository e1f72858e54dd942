module github.com/omendb/omendb/bindings/go

go 1.24
