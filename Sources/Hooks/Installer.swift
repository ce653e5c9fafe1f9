public import Git
internal import Foundation
internal import Store

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// `stepgate hooks install`: puts the shims into a repository's `hooks/` directory.
public enum HookInstaller {
    /// The line that marks a hook as ours.
    public static let marker = "# stepgate-shim:"

    /// The hooks installed by default: pre-receive (the whole push, atomically) and post-receive.
    public static let defaultHooks = ["pre-receive", "post-receive"]
    /// With `--per-ref`: update judges each ref on its own (others may still be accepted).
    public static let perRefHooks = ["update", "post-receive"]
    public static let allHooks = ["pre-receive", "update", "post-receive"]

    /// POSIX sh quoting.
    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// The shim for `name`; `binary` is baked in (used when STEPGATE_BIN is unset), otherwise
    /// `stepgate` is looked up on PATH. The files in the repository's `hooks/` directory are
    /// this text with no baked binary.
    public static func shim(_ name: String, binary: String?) -> String {
        let header = """
            #!/bin/sh
            \(marker) \(name)
            # Installed by `stepgate hooks install`; `stepgate hooks install --force` rewrites it.
            # A hook this one replaced is kept as \(name).stepgate-chained and runs first.
            # The stepgate binary: $STEPGATE_BIN, else the path baked in below, else `stepgate` on PATH;
            # the small stepgate-hook beside it runs the hook when present.
            hook=\(name)
            baked_bin=\(quote(binary ?? ""))
            bin=${STEPGATE_BIN:-$baked_bin}
            if [ -z "$bin" ]; then bin=$(command -v stepgate 2>/dev/null) || bin=; fi
            chained="${0%/*}/$hook.stepgate-chained"
            # A crash must print one line, not a backtrace.
            SWIFT_BACKTRACE=enable=no
            export SWIFT_BACKTRACE
            run() {
                if [ -x "${bin%/*}/stepgate-hook" ]; then "${bin%/*}/stepgate-hook" "$hook" "$@"; else "$bin" hook "$hook" "$@"; fi
            }

            """
        let body: String
        switch name {
        case "pre-receive":
            body = """
                if [ -z "$bin" ] || [ ! -x "$bin" ]; then
                    echo "stepgate: rejected: the stepgate binary is missing or not executable (${bin:-not on PATH}); pushes are refused until it is installed" >&2
                    exit 1
                fi
                if [ -x "$chained" ]; then
                    input=$(mktemp "${TMPDIR:-/tmp}/stepgate-$hook.XXXXXX") || {
                        echo "stepgate: rejected: cannot buffer the hook input (mktemp failed)" >&2; exit 1; }
                    trap 'rm -f "$input"' EXIT
                    cat > "$input"
                    "$chained" "$@" < "$input" || exit $?
                    run "$@" < "$input"
                else
                    run "$@"
                fi
                status=$?
                if [ "$status" -ge 126 ]; then
                    echo "stepgate: rejected: stepgate hook $hook did not run (exit status $status)" >&2
                fi
                exit "$status"

                """
        case "update":
            body = """
                if [ -x "$chained" ]; then
                    "$chained" "$@" || exit $?
                fi
                if [ -z "$bin" ] || [ ! -x "$bin" ]; then
                    echo "stepgate: rejected $1: the stepgate binary is missing or not executable (${bin:-not on PATH}); pushes are refused until it is installed" >&2
                    exit 1
                fi
                run "$@" < /dev/null
                status=$?
                if [ "$status" -ge 126 ]; then
                    echo "stepgate: rejected $1: stepgate hook $hook did not run (exit status $status)" >&2
                fi
                exit "$status"

                """
        default:  // post-receive: never fails the push (it is accepted already); warns instead
            body = """
                # pre-receive leaves this marker once a trusted configuration has push workflows;
                # without it there is nothing to start.
                marker="${GIT_DIR:-.}/stepgate/push-workflows"
                if [ -x "$chained" ]; then
                    input=$(mktemp "${TMPDIR:-/tmp}/stepgate-$hook.XXXXXX") || {
                        echo "stepgate: warning: cannot buffer the hook input; no push workflow was started" >&2; exit 0; }
                    trap 'rm -f "$input"' EXIT
                    cat > "$input"
                    "$chained" "$@" < "$input"
                    exec < "$input"
                fi
                if [ -z "$bin" ] || [ ! -x "$bin" ]; then
                    echo "stepgate: warning: the stepgate binary is missing or not executable (${bin:-not on PATH}); no push workflow was started" >&2
                    exit 0
                fi
                [ -e "$marker" ] || exit 0
                run "$@" || echo "stepgate: warning: stepgate hook $hook failed (exit status $?)" >&2
                exit 0

                """
        }
        return header + body
    }

    /// Installs the shims; returns one line per action.
    /// - Parameters:
    ///   - repositoryPath: the (bare) repository.
    ///   - binary: the stepgate binary to bake into the shims (absolute).
    ///   - configFile: the hook configuration file, recorded as `stepgate.config` in the
    ///     repository's git config after it parsed.
    ///   - force: replace an earlier stepgate shim that differs (another binary path, an older
    ///     version); a foreign hook is never replaced, only chained.
    public static func install(
        repositoryPath: String, binary: String, configFile: String?, force: Bool, hooks: [String] = defaultHooks
    ) throws(HookFailure) -> [String] {
        let gitDirectory: String
        do { gitDirectory = try Repository(path: repositoryPath).path } catch {
            throw HookFailure("\(repositoryPath): not a git repository (\(error.message))")
        }
        let hooksDirectory = gitDirectory + "/hooks"
        var lines: [String] = []
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: hooksDirectory, withIntermediateDirectories: true) } catch {
            throw HookFailure("cannot create \(hooksDirectory): \(error.localizedDescription)")
        }
        var settingsPath: String?
        var settings = HookSettings()
        if let configFile {
            let absolute = absolutePath(configFile)
            do { settings = try HookSettings.load(file: absolute) } catch { throw HookFailure(error.description) }
            settingsPath = absolute
        }
        // Check everything before changing anything.
        var plan: [(name: String, path: String, action: Action)] = []
        for name in hooks {
            let path = "\(hooksDirectory)/\(name)"
            let chained = "\(path).stepgate-chained"
            let wanted = shim(name, binary: binary)
            guard let existing = fm.contents(atPath: path).map({ String(decoding: $0, as: UTF8.self) }) else {
                if fm.fileExists(atPath: path) || isSymlink(path) {
                    throw HookFailure("\(path) exists but cannot be read; not touching it")
                }
                plan.append((name, path, .write))
                continue
            }
            if existing.contains("\(marker) \(name)") {
                if existing == wanted {
                    plan.append((name, path, .unchanged))
                } else if force {
                    plan.append((name, path, .replace))
                } else {
                    throw HookFailure("\(path) is a different stepgate shim (another binary or version); use --force to replace it")
                }
            } else {
                if fm.fileExists(atPath: chained) || isSymlink(chained) {
                    throw HookFailure("\(path) is not a stepgate shim and \(chained) exists too; resolve this by hand")
                }
                plan.append((name, path, .chain))
            }
        }
        for (name, path, action) in plan {
            switch action {
            case .unchanged:
                lines.append("\(path): stepgate shim already installed (unchanged)")
                continue
            case .chain:
                if rename(path, "\(path).stepgate-chained") != 0 {
                    throw HookFailure("cannot move \(path) aside: \(String(cString: strerror(errno)))")
                }
                lines.append("\(path): existing hook kept as \(name).stepgate-chained; the shim runs it first")
            case .replace:
                lines.append("\(path): replaced the previous stepgate shim")
            case .write:
                lines.append("\(path): installed the stepgate shim")
            }
            try AtomicFile.write(shim(name, binary: binary), to: path)
            if chmod(path, 0o755) != 0 {
                throw HookFailure("cannot make \(path) executable: \(String(cString: strerror(errno)))")
            }
        }
        if let settingsPath {
            let configPath = gitDirectory + "/config"
            if GitConfigFile.stepgateValue("config", configFile: configPath) == settingsPath {
                lines.append("\(configPath): stepgate.config already \(settingsPath)")
            } else {
                try runGit(["config", "--file", configPath, "stepgate.config", settingsPath])
                lines.append("\(configPath): set stepgate.config = \(settingsPath)")
            }
        }
        lines.append(prepareStore(settings.storeURL(gitDirectory: gitDirectory), gitDirectory: gitDirectory))
        return lines
    }

    /// Creates and migrates the hooks' store now, so that no push pays for it, when the installing
    /// user owns the repository (the hooks run as that user). Otherwise the first push creates it
    /// with the right owner.
    static func prepareStore(_ url: String, gitDirectory: String) -> String {
        var info = stat()
        guard stat(gitDirectory, &info) == 0, info.st_uid == geteuid() else {
            return "\(url): the store is created by the first push (the repository belongs to another user)"
        }
        do {
            let store = try openStore(url: url)
            return "\(store.path): store ready"
        } catch {
            return "\(url): the store is created by the first push (\(error.message))"
        }
    }

    enum Action { case write, unchanged, replace, chain }

    static func isSymlink(_ path: String) -> Bool {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil
    }

    static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return FileManager.default.currentDirectoryPath + "/" + path
    }

    static func runGit(_ arguments: [String]) throws(HookFailure) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        do { try process.run() } catch { throw HookFailure("cannot run git: \(error.localizedDescription)") }
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus != 0 {
            throw HookFailure("git \(arguments.joined(separator: " ")) failed: \(String(decoding: data, as: UTF8.self))")
        }
    }
}

enum AtomicFile {
    /// Writes through a temporary file and a rename, creating the directory if needed.
    static func write(_ text: String, to path: String) throws(HookFailure) {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let temporary = "\(path).tmp-\(getpid())"
            try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
            if rename(temporary, path) != 0 {
                throw HookFailure("rename \(temporary): \(String(cString: strerror(errno)))")
            }
        } catch let error as HookFailure {
            throw error
        } catch {
            throw HookFailure("cannot write \(path): \(error.localizedDescription)")
        }
    }
}
