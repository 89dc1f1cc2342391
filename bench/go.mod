module github.com/dijk-dns/dijk/bench

go 1.26.0
