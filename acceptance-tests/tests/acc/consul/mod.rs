//! Consul resources against the Consul simulator (stack-devstack) and real OpenBao.

mod acl;
mod connect;
mod intention;
