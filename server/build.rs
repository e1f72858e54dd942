// Generates the gRPC service and messages of proto/omendb.proto (server and client: the
// integration tests call the server through the generated client).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // prost-build finds protoc through this variable (a build script runs on one thread).
    std::env::set_var("PROTOC", protoc);
    println!("cargo:rerun-if-changed=proto/omendb.proto");
    tonic_prost_build::configure().compile_protos(&["proto/omendb.proto"], &["proto"])?;
    Ok(())
}
