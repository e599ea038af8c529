module vframe

go 1.21
