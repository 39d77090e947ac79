"""The release site: every release's manifest gathered into facts (`history`), drawn
(`charts`), rendered as self-contained HTML pages (`pages`), and put beside the manifests in
the bucket or written to a folder (`publishing`). Imports documents (`formats`) and the object
store (`s3`), no stage."""
