import Hooks

#if canImport(Glibc)
import Glibc
#endif

// The server-side hooks alone (`stepgate-hook pre-receive|update|post-receive|run-push`), linking
// only what a hook needs, so that every push pays little for starting it. The shims prefer it to
// `stepgate hook` when it sits beside the stepgate binary.
exit(await HookMain.run(arguments: Array(CommandLine.arguments.dropFirst())))
