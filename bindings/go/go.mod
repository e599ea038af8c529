module github.com/vframe/vframe/bindings/go

go 1.21
