module obslab/stack/healthcheck

go 1.26
