<?php
// The parts of the bot's Phorge set-up that Conduit cannot do, done through Phorge's own
// classes on the Phorge host (as its web forms would):
//
//   php setup.php PHORGE_ROOT vcs-password USERNAME PASSWORD
//       gives USERNAME a VCS password (HTTP git access with diffusion.allow-http-auth)
//   php setup.php PHORGE_ROOT http-step PLAN_PHID URI
//       adds a "Make HTTP Request" step that waits for a message to the build plan (once)
//   php setup.php PHORGE_ROOT herald-rule RULE_NAME ADMIN_USERNAME REPOSITORY_PHID PLAN_PHID
//       adds a global Herald rule on Differential revisions of the repository that runs the plan (once)
//
//   php setup.php PHORGE_ROOT target-messages TARGET_PHID
//       the lint and unit messages a build target holds (Conduit has no call that reads them back)
//
// Each prints one JSON object.

if ($argc < 3) {
  fwrite(STDERR, "usage: php setup.php PHORGE_ROOT vcs-password|http-step|herald-rule ...\n");
  exit(2);
}
$root = $argv[1];
$command = $argv[2];
$args = array_slice($argv, 3);
require_once $root.'/scripts/__init_script__.php';

$omnipotent = PhabricatorUser::getOmnipotentUser();

function find_user($name) {
  $user = id(new PhabricatorPeopleQuery())
    ->setViewer(PhabricatorUser::getOmnipotentUser())
    ->withUsernames(array($name))
    ->executeOne();
  if (!$user) {
    fwrite(STDERR, "setup.php: no user named {$name}\n");
    exit(1);
  }
  return $user;
}

function require_args(array $args, $count, $usage) {
  if (count($args) != $count) {
    fwrite(STDERR, "usage: php setup.php PHORGE_ROOT {$usage}\n");
    exit(2);
  }
}

switch ($command) {
  case 'vcs-password':
    require_args($args, 2, 'vcs-password USERNAME PASSWORD');
    list($name, $secret) = $args;
    $user = find_user($name);
    $type = PhabricatorAuthPassword::PASSWORD_TYPE_VCS;
    $existing = id(new PhabricatorAuthPasswordQuery())
      ->setViewer($omnipotent)
      ->withObjectPHIDs(array($user->getPHID()))
      ->withPasswordTypes(array($type))
      ->withIsRevoked(false)
      ->execute();
    $password = $existing ? head($existing)
      : PhabricatorAuthPassword::initializeNewPassword($user, $type);
    $password->setPassword(new PhutilOpaqueEnvelope($secret), $user);
    $password->save();
    echo json_encode(array('user' => $name, 'vcsPassword' => true))."\n";
    break;

  case 'http-step':
    require_args($args, 2, 'http-step PLAN_PHID URI');
    list($plan_phid, $uri) = $args;
    $class = 'HarbormasterHTTPRequestBuildStepImplementation';
    $steps = id(new HarbormasterBuildStepQuery())
      ->setViewer($omnipotent)
      ->withBuildPlanPHIDs(array($plan_phid))
      ->execute();
    foreach ($steps as $step) {
      if ($step->getClassName() == $class) {
        echo json_encode(array('step' => $step->getPHID(), 'created' => false))."\n";
        exit(0);
      }
    }
    $step = HarbormasterBuildStep::initializeNewStep($omnipotent)
      ->setBuildPlanPHID($plan_phid)
      ->setClassName($class)
      ->setName('stepgate')
      ->setSequence(count($steps))
      ->setDetail('uri', $uri)
      ->setDetail('method', 'GET')
      ->setDetail('builtin.wait-for-message', 'wait');
    $step->save();
    echo json_encode(array('step' => $step->getPHID(), 'created' => true))."\n";
    break;

  case 'herald-rule':
    require_args($args, 4, 'herald-rule RULE_NAME ADMIN_USERNAME REPOSITORY_PHID PLAN_PHID');
    list($name, $admin, $repository_phid, $plan_phid) = $args;
    $author = find_user($admin);
    $rules = id(new HeraldRuleQuery())
      ->setViewer($omnipotent)
      ->withContentTypes(array('differential'))
      ->execute();
    foreach ($rules as $rule) {
      if ($rule->getName() == $name) {
        echo json_encode(array('rule' => $rule->getPHID(), 'created' => false))."\n";
        exit(0);
      }
    }
    $rule = id(new HeraldRule())
      ->setAuthorPHID($author->getPHID())
      ->setMustMatchAll(1)
      ->setContentType('differential')
      ->setRuleType(HeraldRuleTypeConfig::RULE_TYPE_GLOBAL)
      ->setConfigVersion(id(new HeraldRule())->getConfigVersion())
      ->attachConditions(array())
      ->attachActions(array());
    $state = array(
      'match_all' => true,
      'conditions' => array(
        array(
          'field' => DifferentialRevisionRepositoryHeraldField::FIELDCONST,
          'condition' => HeraldAdapter::CONDITION_IS_ANY,
          'value' => array($repository_phid),
        ),
      ),
      'actions' => array(
        array(
          'action' => HarbormasterRunBuildPlansHeraldAction::ACTIONCONST,
          'target' => array($plan_phid),
        ),
      ),
      'repetition_policy' => 'every',
    );
    $xactions = array();
    $xactions[] = id(new HeraldRuleTransaction())
      ->setTransactionType(PhabricatorTransactions::TYPE_CREATE);
    $xactions[] = id(new HeraldRuleTransaction())
      ->setTransactionType(HeraldRuleEditTransaction::TRANSACTIONTYPE)
      ->setNewValue($state);
    $xactions[] = id(new HeraldRuleTransaction())
      ->setTransactionType(HeraldRuleNameTransaction::TRANSACTIONTYPE)
      ->setNewValue($name);
    id(new HeraldRuleEditor())
      ->setActor($author)
      ->setContinueOnNoEffect(true)
      ->setContentSource(PhabricatorContentSource::newForSource(
        PhabricatorConsoleContentSource::SOURCECONST))
      ->applyTransactions($rule, $xactions);
    echo json_encode(array('rule' => $rule->getPHID(), 'created' => true))."\n";
    break;

  case 'target-messages':
    require_args($args, 1, 'target-messages TARGET_PHID');
    $target = id(new HarbormasterBuildTargetQuery())
      ->setViewer($omnipotent)
      ->withPHIDs(array($args[0]))
      ->executeOne();
    if (!$target) {
      fwrite(STDERR, "setup.php: no build target {$args[0]}\n");
      exit(1);
    }
    $lint = array();
    foreach (id(new HarbormasterBuildLintMessage())->loadAllWhere(
      'buildTargetPHID = %s', $target->getPHID()) as $message) {
      $lint[] = array(
        'path' => $message->getPath(),
        'line' => $message->getLine(),
        'code' => $message->getCode(),
        'severity' => $message->getSeverity(),
        'name' => $message->getName(),
      );
    }
    $unit = array();
    foreach (id(new HarbormasterBuildUnitMessage())->loadAllWhere(
      'buildTargetPHID = %s', $target->getPHID()) as $message) {
      $unit[] = array(
        'name' => $message->getName(),
        'result' => $message->getResult(),
      );
    }
    echo json_encode(array('lint' => $lint, 'unit' => $unit))."\n";
    break;

  default:
    fwrite(STDERR, "setup.php: unknown command {$command}\n");
    exit(2);
}
