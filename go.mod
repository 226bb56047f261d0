module github.com/svcdns/svcdns

go 1.26
